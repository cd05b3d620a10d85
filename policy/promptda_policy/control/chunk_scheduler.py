# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Which action to command now: action-chunk scheduling, the inference worker (no ROS, no torch).

:class:`ChunkScheduler` serves the action for a time from the chunks the policy predicted;
:class:`InferenceWorker` runs the policy off the control loop, through the package's one
latest-item worker (:mod:`promptda_ros.serving`), shared with the perception node.

Timing model. An observation stamped ``t_obs`` yields a chunk of T actions; action ``k`` is the
command for time ``t_obs + k / fps`` (``fps`` = the dataset rate the policy was trained at).
Inference takes longer than one control period (~0.3 s on CPU at 480x640), so the first actions
of a chunk are already in the past when it arrives; :class:`ChunkScheduler` indexes the chunk by
wall time, never by "next unused action", and the control loop (30 Hz) keeps running from the
previous chunk while the worker computes the next one.

How a chunk is played. A policy trained on chunks must execute them: a new chunk arrives with
every depth frame (15 Hz) after ~10 ms of inference at 60x80, so playing only the newest chunk
executes its first one or two actions and never what it plans later (a grasp that holds still
and then closes never closes: the first actions at the grasp pose always say "open"). Two ways
out, both from ACT / lerobot:

* temporal ensembling (the default, lerobot's coefficient m = 0.01): every stored chunk that
  covers time t contributes its action for t, weighted ``exp(-m * i)`` with i = 0 for the
  oldest chunk, so the later actions of earlier chunks are executed alongside the first
  actions of newer ones;
* ``n_action_steps``: play one chunk for that many actions before the next inferred chunk
  replaces it (lerobot's action queue; ACT's default n_action_steps = chunk_size);
* neither (``ensemble_coeff=None``, ``n_action_steps=0``): the newest chunk always (the old
  behaviour, kept for comparison).
"""

from dataclasses import dataclass
import threading
from typing import Any, Callable

import numpy as np

from promptda_ros.core.errors import InputError
from promptda_ros.serving import LatestWorker


@dataclass
class _Chunk:
    start_s: float
    actions: np.ndarray   # (T, J) float64


class ChunkScheduler:
    """Serve time-indexed actions from the newest action chunk(s).

    Args:
        fps: rate of the actions inside a chunk (Hz), i.e. the training dataset fps.
        ensemble_coeff: None = no ensembling; a value m >= 0 = temporal ensembling over all
            chunks covering the query time with weights ``exp(-m * i)`` (lerobot: 0.01).
        max_chunks: ensembling memory (older chunks are dropped); the default keeps every
            chunk of a 1 s, 30-action chunk at 15 depth frames/s, as lerobot's ensembler does.
        n_action_steps: without ensembling, > 0 = play the current chunk for this many
            actions (of its own timeline) before a newer chunk replaces it; a chunk used up
            earlier is replaced at once. 0 = the newest chunk at once (no chunk execution).
    """

    def __init__(self, fps: float, ensemble_coeff: float | None = None, max_chunks: int = 32,
                 n_action_steps: int = 0):
        if not np.isfinite(fps) or fps <= 0:
            raise InputError('chunk fps must be > 0, got %r' % (fps,))
        if ensemble_coeff is not None and (not np.isfinite(ensemble_coeff)
                                           or ensemble_coeff < 0):
            raise InputError('ensemble_coeff must be >= 0 or None, got %r' % (ensemble_coeff,))
        if max_chunks < 1:
            raise InputError('max_chunks must be >= 1, got %r' % (max_chunks,))
        if n_action_steps < 0:
            raise InputError('n_action_steps must be >= 0, got %r' % (n_action_steps,))
        self.fps = float(fps)
        self.ensemble_coeff = ensemble_coeff
        self.max_chunks = int(max_chunks)
        self.n_action_steps = int(n_action_steps)
        self._chunks: list[_Chunk] = []
        self._pending: _Chunk | None = None  # n_action_steps: the newest chunk, waiting
        self._lock = threading.Lock()

    @property
    def mode(self) -> str:
        """'ensemble', 'n_action_steps' or 'newest': how chunks are played."""
        if self.ensemble_coeff is not None:
            return 'ensemble'
        return 'n_action_steps' if self.n_action_steps > 0 else 'newest'

    def clear(self) -> None:
        """Forget every chunk (e.g. when the policy is disabled)."""
        with self._lock:
            self._chunks.clear()
            self._pending = None

    def add_chunk(self, start_s: float, actions: np.ndarray) -> None:
        """Store a chunk.

        Args:
            start_s: stamp of the observation the chunk was predicted from (s).
            actions: (T, J) actions; row k is the command for ``start_s + k / fps``.

        Raises:
            InputError: when actions is not a non-empty 2-D array or J changes.
        """
        acts = np.asarray(actions, dtype=np.float64)
        if acts.ndim != 2 or acts.shape[0] == 0 or acts.shape[1] == 0:
            raise InputError('action chunk must be (T, J) with T, J > 0, got %s'
                             % (acts.shape,))
        with self._lock:
            if self._chunks and self._chunks[-1].actions.shape[1] != acts.shape[1]:
                raise InputError('action chunk has %d joints, previous chunks had %d'
                                 % (acts.shape[1], self._chunks[-1].actions.shape[1]))
            newest = self._pending or (self._chunks[-1] if self._chunks else None)
            if newest is not None and start_s < newest.start_s:
                return  # an older observation finished late: never go back in time
            chunk = _Chunk(float(start_s), acts)
            if self.mode == 'n_action_steps' and self._chunks:
                self._pending = chunk   # swapped in by action_at once the current one played
                return
            self._chunks.append(chunk)
            keep = self.max_chunks if self.ensemble_coeff is not None else 1
            del self._chunks[:-keep]

    def _index(self, chunk: _Chunk, now_s: float, clamp_past: bool) -> int | None:
        k = int(np.floor((now_s - chunk.start_s) * self.fps + 1e-9))
        if k < 0:
            if not clamp_past:
                return None
            k = 0  # observation stamped slightly ahead of this clock: use its first action
        return k if k < chunk.actions.shape[0] else None

    def action_at(self, now_s: float) -> np.ndarray | None:
        """Return the (J,) action for time ``now_s`` (s), or None when every chunk is used up."""
        with self._lock:
            if not self._chunks:
                return None
            if self.ensemble_coeff is None:
                current = self._chunks[-1]
                if self._pending is not None:
                    played = (now_s - current.start_s) * self.fps + 1e-9
                    if played >= min(self.n_action_steps, current.actions.shape[0]):
                        current = self._pending
                        self._chunks[-1], self._pending = current, None
                k = self._index(current, now_s, True)
                return None if k is None else current.actions[k].copy()
            rows = []
            for chunk in self._chunks:
                k = self._index(chunk, now_s, False)
                if k is not None:
                    rows.append(chunk.actions[k])
        if not rows:
            return None
        weights = np.exp(-self.ensemble_coeff * np.arange(len(rows)))
        return (weights[:, None] * np.stack(rows)).sum(axis=0) / weights.sum()


class InferenceWorker(LatestWorker):
    """The policy's use of the one latest-item worker (:class:`promptda_ros.serving.LatestWorker`).

    ``submit(stamp_s, observation)`` never blocks: a newer observation replaces one that has not
    started yet, so stale frames are dropped instead of queued. Results go to
    ``on_result(stamp_s, output)``; exceptions raised by the predictor go to ``on_error(exc)``
    and the worker keeps running.

    Args:
        predict: callable(observation) -> output, e.g. (T, J) action chunk.
        on_result: callable(stamp_s, output).
        on_error: callable(exception).
    """

    def __init__(self, predict: Callable[[Any], Any], on_result: Callable[[float, Any], None],
                 on_error: Callable[[BaseException], None]):
        super().__init__(lambda item: predict(item[1]),
                         on_result=lambda item, output: on_result(item[0], output),
                         on_error=lambda _item, exc: on_error(exc), name='policy-inference')

    def submit(self, stamp_s: float, observation: Any) -> None:
        """Offer an observation stamped ``stamp_s`` seconds (replaces a pending one)."""
        self.put((float(stamp_s), observation))
