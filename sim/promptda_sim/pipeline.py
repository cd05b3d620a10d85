# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""``promptda-sim-pipeline``: record demos -> train ACT-depth -> closed-loop success, resumable.

One command for the grasping experiment in simulation; every stage is one of the package's
CLIs, called as a function (nothing copied):

1. **record** (``promptda-sim-record``): expert demonstrations on the cans through the real
   nodes into ``ROOT/demos``; the last ``--val-episodes`` are kept out of training;
2. **train** (``promptda-policy-train``): ACT-depth on the other successful demos into
   ``ROOT/train``; each saved checkpoint's held-out action error (``promptda-policy-eval``'s
   :func:`~promptda_policy.train.evaluate`) is printed as training goes;
3. **eval** (``promptda-sim-eval``): success per object x position x depth source on seeds
   not used for the demos into ``ROOT/eval`` (``success.md``, ``success.json``).

Resumable: a stage whose output is complete is skipped. A stage writes into ``NAME.partial``
and renames it when it is done, so an interrupted record or eval starts again from scratch; an
interrupted training continues from its newest checkpoint (``--init``) for the steps left.
Progress bars (tqdm) count demos, training steps (lerobot's own bar) and eval episodes.
"""

import argparse
import contextlib
import io
import json
import os
import re
import shlex
import shutil
import sys
import threading
import time

from promptda_ros.core.errors import InputError, PromptDAError

# The CPU-sized ACT-depth of the README (13.9 M parameters; chunks of 30 actions = 1 s).
CPU_ACT_ARGS = ('--lr', '3e-4', '--chunk-size', '30', '--dim-model', '256', '--n-heads', '8',
                '--dim-feedforward', '1024', '--n-encoder-layers', '2', '--no-vae',
                '--num-workers', '1')
DEMO_LINE = re.compile(r'^demo (\d+): (\S+) at (\S+): (SUCCESS|failure); saved episode (\d+)')
EVAL_LINE = re.compile(r'^(\S+) \| (\S+) (\S+) seed (\d+): (SUCCESS|failure)')
REPO_ID = 'local/promptda_demos'


class _LineTap(io.TextIOBase):
    """A stdout stand-in: prints each line above a tqdm bar and hands it to ``on_line``."""

    def __init__(self, bar, on_line):
        self.bar, self.on_line, self._buf = bar, on_line, ''

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buf += text
        while '\n' in self._buf:
            line, self._buf = self._buf.split('\n', 1)
            self.bar.write(line, file=sys.__stdout__)
            self.on_line(line)
        return len(text)


def _tapped(fn, argv: list, total: int, desc: str, on_line) -> int:
    """Run ``fn(argv)`` (a CLI main) with its printed lines feeding a progress bar."""
    from tqdm import tqdm
    with tqdm(total=total, desc=desc, unit='ep', file=sys.__stderr__, dynamic_ncols=True) as bar:
        def line(text):
            if on_line(text):
                bar.update(1)
        with contextlib.redirect_stdout(_LineTap(bar, line)):
            return int(fn(argv))


def _write_json(path: str, data: dict) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def _read_json(path: str) -> dict | None:
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _episode_list(indices: list) -> str:
    return ','.join(str(i) for i in indices)


# ---------------------------------------------------------------------- stages
def stage_record(args, ros_args: list) -> dict:
    """Record the demos (or reuse them); return ``ROOT/demos/pipeline.json``'s content."""
    from promptda_sim.graph import record_main
    final = os.path.join(args.root, 'demos')
    summary_path = os.path.join(final, 'pipeline.json')
    summary = _read_json(summary_path)
    if summary is not None:
        print('[record] done: %s (%d demos, expert success %d); skipped'
              % (final, len(summary['episodes']), sum(e['success'] for e in summary['episodes'])))
        return summary
    partial = final + '.partial'
    shutil.rmtree(partial, ignore_errors=True)
    episodes: list = []

    def on_line(text):
        m = DEMO_LINE.match(text)
        if m:
            episodes.append({'demo': int(m.group(1)), 'object': m.group(2),
                             'position': m.group(3), 'success': m.group(4) == 'SUCCESS',
                             'index': int(m.group(5)), 'seed': args.seed + int(m.group(1))})
        return bool(m)

    t0 = time.monotonic()
    argv = ['--root', partial, '--episodes', str(args.episodes), '--objects', args.objects,
            '--positions', args.positions, '--depth-size', args.depth_size,
            '--seed', str(args.seed), '--real-time-factor', str(args.record_rtf)] + ros_args
    if _tapped(record_main, argv, args.episodes, 'record', on_line) != 0:
        raise PromptDAError('recording failed (see above); run again to start it over')
    n = len(episodes)
    val = [e['index'] for e in episodes[n - args.val_episodes:]] if args.val_episodes else []
    train = [e['index'] for e in episodes[:n - args.val_episodes] if e['success']]
    if not train:
        raise PromptDAError('no successful demo to train on')
    summary = {'episodes': episodes, 'train_episodes': train, 'val_episodes': val,
               'wall_s': time.monotonic() - t0}
    _write_json(os.path.join(partial, 'pipeline.json'), summary)
    os.replace(partial, final)
    print('[record] %d demos (%d successful) in %.0f s; training on %d, held out %s'
          % (n, sum(e['success'] for e in episodes), summary['wall_s'], len(train), val))
    return summary


def _checkpoint_step(folder: str) -> int:
    state = _read_json(os.path.join(folder, 'training_state', 'training_step.json'))
    return int(state['step']) if state else 0


class _HeldOut(threading.Thread):
    """Print the held-out action error of each checkpoint the training saves."""

    def __init__(self, train_dir: str, demos: str, episodes: list, max_frames: int,
                 offset: int):
        super().__init__(daemon=True, name='held-out')
        self.dir = os.path.join(train_dir, 'checkpoints')
        self.demos, self.episodes = demos, episodes
        self.max_frames, self.offset = max_frames, offset
        self.seen: set = set()
        self.stop = threading.Event()
        self.results: list = []

    def check(self) -> None:
        from promptda_policy.train import evaluate
        try:
            names = sorted(n for n in os.listdir(self.dir) if n.isdigit())
        except OSError:
            return
        for name in names:
            model = os.path.join(self.dir, name, 'pretrained_model')
            if name in self.seen or not os.path.isfile(os.path.join(model, 'model.safetensors')):
                continue
            self.seen.add(name)
            try:
                r = evaluate(model, self.demos, REPO_ID, self.episodes,
                             max_frames=self.max_frames)
            except (PromptDAError, OSError) as exc:   # a checkpoint still being written
                self.seen.discard(name)
                print('[train] held-out check of step %s deferred: %s' % (name, exc),
                      file=sys.stderr)
                continue
            step = int(name) + self.offset
            self.results.append({'step': step, 'l1_first': r['l1_first'],
                                 'l1_chunk': r['l1_chunk']})
            print('[train] step %d: held-out action L1 %.4f (first action), %.4f (chunk) over '
                  '%d frames of episodes %s' % (step, r['l1_first'], r['l1_chunk'],
                                                r['frames'], _episode_list(self.episodes)),
                  file=sys.stderr, flush=True)

    def run(self) -> None:
        while not self.stop.wait(10.0):
            self.check()


def stage_train(args, demos: dict) -> str:
    """Train (or reuse, or continue) the policy; return its ``pretrained_model`` folder."""
    from promptda_policy import train as policy_train
    final = os.path.join(args.root, 'train')
    model = os.path.join(final, 'checkpoints', 'last', 'pretrained_model')
    marker = os.path.join(args.root, 'train.json')
    state = _read_json(marker) or {'done_steps': 0, 'parts': []}
    if state.get('done'):
        print('[train] done: %s (%d steps); skipped' % (model, state['done_steps']))
        return model
    if os.path.isdir(final):    # interrupted: keep its newest checkpoint, continue from there
        last = os.path.join(final, 'checkpoints', 'last')
        step = _checkpoint_step(last) if os.path.isdir(last) else 0
        if step and state['done_steps'] + step >= args.steps:   # done, marker not written
            state.update(done_steps=state['done_steps'] + step, done=True)
            _write_json(marker, state)
            print('[train] done: %s (%d steps)' % (model, state['done_steps']))
            return model
        part = os.path.join(args.root, 'train.part%d' % len(state['parts']))
        os.replace(final, part)
        if step:
            state['done_steps'] += step
            state['parts'].append({'dir': part, 'steps': step,
                                   'model': os.path.join(part, 'checkpoints', 'last',
                                                         'pretrained_model')})
        _write_json(marker, state)
    remaining = args.steps - state['done_steps']
    demos_dir = os.path.join(args.root, 'demos')
    argv = ['--dataset', demos_dir, '--output-dir', final,
            '--episodes', _episode_list(demos['train_episodes']),
            '--batch-size', str(args.batch_size), '--save-freq', str(args.save_freq),
            '--log-freq', str(args.log_freq)] + list(CPU_ACT_ARGS) + shlex.split(args.train_args)
    if state['parts']:
        argv += ['--init', state['parts'][-1]['model']]
        print('[train] continuing from step %d (%s) for %d steps'
              % (state['done_steps'], state['parts'][-1]['model'], remaining))
    if remaining > 0:
        watcher = None
        if demos['val_episodes']:
            watcher = _HeldOut(final, demos_dir, demos['val_episodes'], args.val_frames,
                               state['done_steps'])
            watcher.start()
        t0 = time.monotonic()
        try:
            code = policy_train.main(argv + ['--steps', str(remaining)])
        finally:
            if watcher is not None:
                watcher.stop.set()
                watcher.join()
        if code != 0:
            raise PromptDAError('training failed (see above); run again to continue it')
        if watcher is not None:
            watcher.check()     # the final checkpoint
        state['wall_s'] = state.get('wall_s', 0.0) + time.monotonic() - t0
        state['held_out'] = state.get('held_out', []) + (watcher.results if watcher else [])
    state['done_steps'] = max(args.steps, state['done_steps'])
    state['done'] = True
    _write_json(marker, state)
    print('[train] %d steps done: %s' % (args.steps, model))
    return model


def stage_eval(args, model: str, ros_args: list) -> dict:
    """Closed-loop success of the trained policy (or reuse it); return success.json's content.

    A finished eval of another training (fewer or more steps) is moved to ``eval.stepN``.
    """
    from promptda_sim import graph as sim_eval
    final = os.path.join(args.root, 'eval')
    steps = int((_read_json(os.path.join(args.root, 'train.json')) or {}).get('done_steps', 0))
    done = _read_json(os.path.join(final, 'success.json'))
    if done is not None and int(done.get('train_steps', -1)) == steps:
        print('[eval] done: %s/success.md; skipped' % final)
        return done
    if done is not None:
        os.replace(final, final + '.step%s' % done.get('train_steps', 'unknown'))
    partial = final + '.partial'
    shutil.rmtree(partial, ignore_errors=True)
    objects = args.eval_objects or args.objects
    cells = (len(objects.split(',')) * len(args.positions.split(','))
             * len(args.depth_sources.split(',')))
    argv = [model, '--episodes', str(args.eval_episodes), '--out', partial,
            '--objects', objects, '--positions', args.positions,
            '--depth-sources', args.depth_sources, '--timeout-s', str(args.timeout_s),
            '--seed', str(args.eval_seed), '--real-time-factor', str(args.eval_rtf)] + ros_args
    if _tapped(sim_eval.main, argv, cells * args.eval_episodes, 'eval',
               lambda text: bool(EVAL_LINE.match(text))) != 0:
        raise PromptDAError('evaluation failed (see above); run again to start it over')
    result = _read_json(os.path.join(partial, 'success.json')) or {}
    result['train_steps'] = steps
    _write_json(os.path.join(partial, 'success.json'), result)
    os.replace(partial, final)
    return result


# ---------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    from promptda_sim.scene import POSITIONS
    p = argparse.ArgumentParser(
        prog='promptda-sim-pipeline',
        description='Grasping in simulation in one resumable command: record expert demos '
                    'through the nodes, train ACT-depth, score it in closed loop. Stages whose '
                    'outputs exist under --root are skipped.')
    p.add_argument('--root', required=True, help='folder for demos/, train/, eval/')
    g = p.add_argument_group('record (promptda-sim-record)')
    g.add_argument('--episodes', type=int, default=54, help='demos (%(default)s)')
    g.add_argument('--val-episodes', type=int, default=6,
                   help='last demos kept out of training for the held-out error (%(default)s)')
    g.add_argument('--objects', default='red_can,green_can', help='(%(default)s)')
    g.add_argument('--positions', default=','.join(POSITIONS), help='(%(default)s)')
    g.add_argument('--depth-size', default='60x80', help='HxW of the depth (%(default)s)')
    g.add_argument('--seed', type=int, default=100, help='first demo seed (%(default)s)')
    g.add_argument('--record-rtf', type=float, default=2.0,
                   help='real-time factor while recording (%(default)s)')
    g = p.add_argument_group('train (promptda-policy-train, CPU-sized ACT-depth)')
    g.add_argument('--steps', type=int, default=6000, help='(%(default)s)')
    g.add_argument('--batch-size', type=int, default=16, help='(%(default)s)')
    g.add_argument('--save-freq', type=int, default=500,
                   help='checkpoint (and held-out check) every N steps (%(default)s)')
    g.add_argument('--log-freq', type=int, default=100, help='(%(default)s)')
    g.add_argument('--val-frames', type=int, default=512,
                   help='held-out frames scored per checkpoint (%(default)s)')
    g.add_argument('--train-args', default='',
                   help='more promptda-policy-train options, quoted; they override the '
                        'CPU-sized defaults (%s)' % ' '.join(CPU_ACT_ARGS))
    g = p.add_argument_group('eval (promptda-sim-eval)')
    g.add_argument('--eval-episodes', type=int, default=10, help='per cell (%(default)s)')
    g.add_argument('--eval-objects', default='', help='(default: --objects)')
    g.add_argument('--depth-sources', default='default', help='(%(default)s)')
    g.add_argument('--timeout-s', type=float, default=20.0,
                   help='sim seconds per episode (%(default)s)')
    g.add_argument('--eval-seed', type=int, default=1000,
                   help='first eval seed, outside the demo seeds (%(default)s)')
    g.add_argument('--eval-rtf', type=float, default=1.0,
                   help='real-time factor in closed loop (%(default)s)')
    return p


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``promptda-sim-pipeline``."""
    from promptda_ros.ros.node_kit import split_ros_args
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, ros_args = split_ros_args(argv)
    args = _parser().parse_args(argv)
    try:
        demo_seeds = set(range(args.seed, args.seed + args.episodes))
        eval_seeds = set(range(args.eval_seed, args.eval_seed + args.eval_episodes))
        if demo_seeds & eval_seeds:
            raise InputError('eval seeds %d.. overlap the demo seeds %d..%d: choose another '
                             '--eval-seed' % (args.eval_seed, args.seed,
                                              args.seed + args.episodes - 1))
        if not 0 <= args.val_episodes < args.episodes:
            raise InputError('--val-episodes must be >= 0 and < --episodes')
        os.makedirs(args.root, exist_ok=True)
        t0 = time.monotonic()
        demos = stage_record(args, ros_args)
        model = stage_train(args, demos)
        result = stage_eval(args, model, ros_args)
        table = os.path.join(args.root, 'eval', 'success.md')
        if os.path.isfile(table):
            with open(table, encoding='utf-8') as f:
                print(f.read().rstrip())
        print('pipeline done in %.0f s (this run); policy %s; eval wall %.0f s'
              % (time.monotonic() - t0, model, float(result.get('wall_s', 0.0))))
    except PromptDAError as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('interrupted: run the same command again to resume', file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
