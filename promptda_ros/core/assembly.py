# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Frame assembly: when an image has everything it needs, and what became of every image.

:class:`FrameAssembler` is fed the three input streams in arrival order -- camera images,
camera infos and prompt messages (LiDAR sweeps or low-resolution depth images) -- with their
header stamps in integer nanoseconds, and answers each input with :class:`Event` s:

* ``'complete'`` -- the image has a camera info and a prompt: the :class:`Frame` is ready.
  Complete frames come oldest pending first; one prompt often completes two images at once.
* ``'pending'`` -- the arriving image waits for its prompt or camera info.
* ``'unpaired'`` -- an image left without a frame: the assembler moved past it (a newer image
  completed first), more than ``max_pending`` images wait (``why='overflow'``), its timeline
  ended (a jump back in time, ``why='time_jump'``) or the input ended (:meth:`finish`).
* ``'time_jump'`` -- stamps jumped back in time (a looped bag, a simulator reset), counted once
  per jump (``jumps``): the caches of the old timeline were cleared.

Pairing rules (one each, shared by the perception node and the bag reader):

* prompt: :class:`promptda_ros.core.sync.NearestSweepCache` -- the nearest cached prompt within
  ``slop``, ties to the later stamp (``message_filters.Cache`` storage, ``capacity`` entries);
* camera info: the nearest of the last ``camera_capacity`` camera infos, however far in time
  (intrinsics rarely change; an image never waits for an exact match).

No locks, no clock, no ROS: the owner serialises the calls. Stamps are integer nanoseconds;
seconds become nanoseconds only through :func:`promptda_ros.core.sync.seconds_to_ns`.
"""

from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

from promptda_ros.core.sync import (
    DEFAULT_JUMP_BACK_NS,
    NearestSweepCache,
    select_nearest,
    StampCache,
)

__all__ = ['Event', 'Frame', 'FrameAssembler', 'MAX_PENDING_IMAGES', 'CAMERA_INFO_CAPACITY']

MAX_PENDING_IMAGES = 4
"""Images waiting for a partner; one more pushes the oldest out (unpaired, 'overflow')."""
CAMERA_INFO_CAPACITY = 10
"""Camera infos kept for pairing (the oldest inserted goes first)."""
_ANY_TIME_NS = 1 << 62  # camera info pairing: the nearest one, however far


@dataclass(frozen=True)
class Frame:
    """One complete frame.

    Attributes:
        image: the image item as handed to :meth:`FrameAssembler.add_image`.
        stamp_ns: image stamp, integer ns.
        camera: the camera info item paired by :data:`CAMERA_INFO_CAPACITY`'s nearest rule.
        camera_stamp_ns: its stamp, integer ns.
        prompt: the prompt item (LiDAR sweep / depth image) nearest within slop, or None when
            the assembler needs no prompt.
        prompt_stamp_ns: its stamp (integer ns), or None.
    """

    image: Any
    stamp_ns: int
    camera: Any
    camera_stamp_ns: int
    prompt: Any = None
    prompt_stamp_ns: Optional[int] = None


class Event(NamedTuple):
    """What happened to one image (or to the timeline).

    Attributes:
        kind: 'complete', 'pending', 'unpaired' or 'time_jump'.
        stamp_ns: the image stamp (for 'time_jump': the stamp of the message that showed it).
        image: the image item ('pending' / 'unpaired'), None for 'time_jump'.
        frame: the :class:`Frame` of a 'complete' event, else None.
        why: for 'unpaired': 'passed' (a newer image completed), 'overflow', 'time_jump' or
            'end'; else ''.
        jumps: for 'time_jump': jumps newly counted (>= 1); else 0.
    """

    kind: str
    stamp_ns: int
    image: Any = None
    frame: Optional[Frame] = None
    why: str = ''
    jumps: int = 0


class FrameAssembler:
    """Images, camera infos and prompts in (arrival order, integer-ns stamps); events out.

    Args:
        slop_ns: prompt pairing tolerance, integer ns >= 0.
        prompt_capacity: prompts kept for pairing (``message_filters.Cache`` size), >= 1.
        needs_prompt: False = a frame is complete with its camera info alone (a bag without
            any prompt topic).
        max_pending: images kept waiting for a partner.
        camera_capacity: camera infos kept for pairing.
        jump_back_ns: a prompt stamped this much (ns) before the newest cached one is a jump
            back in time.
    """

    def __init__(self, slop_ns: int, prompt_capacity: int = 10, needs_prompt: bool = True,
                 max_pending: int = MAX_PENDING_IMAGES,
                 camera_capacity: int = CAMERA_INFO_CAPACITY,
                 jump_back_ns: int = DEFAULT_JUMP_BACK_NS) -> None:
        """Create an empty assembler (see the class docstring for the arguments)."""
        self._prompts = NearestSweepCache(slop_ns, prompt_capacity, jump_back_ns)
        self._cameras = StampCache(camera_capacity)
        self._needs_prompt = needs_prompt
        self._max_pending = max_pending
        self._pending: list[tuple[int, Any]] = []  # (stamp ns, image item), arrival order
        self._jumps_counted = 0

    @property
    def slop_ns(self) -> int:
        """Return the prompt pairing tolerance in integer nanoseconds."""
        return self._prompts.slop_ns

    def set_slop(self, slop_ns: int) -> None:
        """Change the pairing tolerance (integer ns >= 0) for the next match; caches stay."""
        self._prompts.set_slop(slop_ns)

    @property
    def pending(self) -> int:
        """Return how many images wait for a partner."""
        return len(self._pending)

    def add_image(self, stamp_ns: int, image: Any) -> list[Event]:
        """Take an image stamped ``stamp_ns`` (integer ns >= 0); return the events, in order.

        A stamp earlier than the previous image's is a jump back in time: the waiting images
        become unpaired, camera infos and prompts stamped after ``stamp + slop`` are dropped.
        """
        events: list[Event] = []
        if self._prompts.note_image(stamp_ns):
            limit = stamp_ns + self._prompts.slop_ns
            self._cameras.keep(lambda stamp: stamp <= limit)
            events += [Event('unpaired', stale, item, why='time_jump')
                       for stale, item in self._pending]
            self._pending.clear()
            events += self._count_jumps(stamp_ns)
        self._pending.append((stamp_ns, image))
        events += self._dispatch()
        if any(item is image for _stamp, item in self._pending):
            events.append(Event('pending', stamp_ns, image))
        return events

    def add_camera_info(self, stamp_ns: int, camera: Any) -> list[Event]:
        """Take a camera info item stamped ``stamp_ns`` (integer ns >= 0); return the events."""
        self._cameras.add(stamp_ns, camera)
        return self._dispatch()

    def add_prompt(self, stamp_ns: int, prompt: Any) -> list[Event]:
        """Take a LiDAR sweep / prompt image stamped ``stamp_ns`` (integer ns >= 0).

        A stamp more than ``jump_back_ns`` before the newest cached prompt clears the prompt
        cache (a 'time_jump' event); waiting images stay.
        """
        events: list[Event] = []
        if self._prompts.add(stamp_ns, prompt):
            events += self._count_jumps(stamp_ns)
        return events + self._dispatch()

    def finish(self) -> list[Event]:
        """End of input: every waiting image becomes unpaired (``why='end'``)."""
        events = [Event('unpaired', stamp, item, why='end') for stamp, item in self._pending]
        self._pending.clear()
        return events

    def camera_for(self, stamp_ns: int) -> Optional[tuple[int, Any]]:
        """Return ``(stamp_ns, camera item)`` paired with an image at ``stamp_ns``, or None."""
        match = select_nearest(self._cameras.entries(), stamp_ns, _ANY_TIME_NS)
        return None if match is None else (match.stamp_ns, match.item)

    def _count_jumps(self, stamp_ns: int) -> list[Event]:
        new = self._prompts.jumps_back - self._jumps_counted
        self._jumps_counted = self._prompts.jumps_back
        return [Event('time_jump', stamp_ns, jumps=new)] if new > 0 else []

    def _frame(self, stamp_ns: int, image: Any) -> Optional[Frame]:
        camera = self.camera_for(stamp_ns)
        if camera is None:
            return None
        if not self._needs_prompt:
            return Frame(image, stamp_ns, camera[1], camera[0])
        match = self._prompts.match(stamp_ns)
        if match is None:
            return None
        return Frame(image, stamp_ns, camera[1], camera[0], match.item, match.stamp_ns)

    def _dispatch(self) -> list[Event]:
        """Complete every waiting image that can be, in arrival order.

        A waiting image older than the newest complete one that still has no partner is
        unpaired (the assembler has moved past it); past ``max_pending`` waiting images the
        oldest is unpaired ('overflow').
        """
        events: list[Event] = []
        complete = [(index, frame) for index, frame in
                    ((index, self._frame(stamp, item))
                     for index, (stamp, item) in enumerate(self._pending)) if frame is not None]
        if complete:
            last = complete[-1][0]
            done = {index for index, _frame in complete}
            events += [Event('unpaired', stamp, item, why='passed')
                       for index, (stamp, item) in enumerate(self._pending[:last])
                       if index not in done]
            del self._pending[:last + 1]
            events += [Event('complete', frame.stamp_ns, frame.image, frame)
                       for _index, frame in complete]
        while len(self._pending) > self._max_pending:
            stamp, item = self._pending.pop(0)
            events.append(Event('unpaired', stamp, item, why='overflow'))
        return events
