# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Layering rules: the core runs without ROS; ML APIs are fenced; packages depend one way.

Each third-party ML API is imported from one adapter; the packages depend one way (simulator ->
policy -> perception), inside the policy the layers too (ROS nodes -> model and training ->
control), and no modules import each other; inside the perception package no module imports a
layer above its own, and only training imports the training folders; the functions that once
held the most branches stay readable (cyclomatic complexity).
"""

import ast
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROS_MODULES = ('rclpy', 'rosidl_runtime_py', 'message_filters', 'tf2_ros', 'cv_bridge',
               'diagnostic_updater', 'launch', 'launch_ros', 'ament_index_python')
# The layers allowed to talk to ROS: the node package, the policy's and the simulator's ROS front
# ends.
ROS_LAYER = ('promptda_ros/ros/', 'promptda_ros/demo.py', 'policy/promptda_policy/ros/', 'launch/',
             'sim/promptda_sim/node.py', 'sim/promptda_sim/graph.py',
             'sim/promptda_sim/pipeline.py', 'sim/promptda_sim/cli.py')
# Package layers, lowest first: a package may import only its own layer and those below it.
PACKAGE_LAYERS = ('promptda_ros', 'promptda_policy', 'promptda_sim')
# Layers inside the policy package, lowest first (the package's own constants below them all):
# control (no ROS, no torch), then the model, its training and datasets, then the ROS nodes.
POLICY_LAYERS = ('promptda_policy.control', 'promptda_policy', 'promptda_policy.ros')
PACKAGE_FOLDERS = {'promptda_ros': 'promptda_ros', 'promptda_policy': 'policy/promptda_policy',
                   'promptda_sim': 'sim/promptda_sim'}
# Layers of the perception package, lowest first (the README's architecture table): a module may
# import its own layer and the layers below it, never one above.
PERCEPTION_LAYERS = (
    ('core', 'cli_args'),                              # ROS-free primitives, CLI argument checks
    ('model',),                                        # the PromptDA network
    ('pipeline',),                                     # one frame: prompt -> a backend -> output
    ('backends', 'bagio', 'params_file', 'serving'),   # backends + inference; bags; params; worker
    ('eval',),                                         # scoring
    ('train', 'adapt'),                                # training only
    ('sample',),                                       # sample data and its benchmark
    ('ros',),                                          # the rclpy layer
    ('demo',),                                         # the end-to-end demo
)
TRAINING = ('promptda_ros.train', 'promptda_ros.adapt')
# At most 15 (McCabe): the functions of the perception package that once held the most branches.
COMPLEX_BEFORE = (('promptda_ros/bagio.py', '_read'), ('promptda_ros/train/cli.py', 'train'),
                  ('promptda_ros/eval/cli.py', 'evaluate'))
MAX_COMPLEXITY = 15


def _python_files(*folders):
    for folder in folders:
        for base, dirs, names in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = [d for d in dirs if d != '__pycache__']
            for n in names:
                if n.endswith('.py'):
                    yield os.path.relpath(os.path.join(base, n), ROOT).replace(os.sep, '/')


def _imported_roots(path):
    """Return the top-level module names a file imports (absolute imports only)."""
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split('.')[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split('.')[0])
    return roots


def _is_ros(mod):
    return mod in ROS_MODULES or mod.endswith(('_msgs', '_srvs', '_interfaces'))


def test_ros_imports_only_in_the_ros_layer():
    """No file outside the ROS layer imports rclpy, message packages or other ROS libraries."""
    offenders = []
    for path in _python_files('promptda_ros', 'policy', 'sim'):
        if path.startswith(ROS_LAYER):
            continue
        bad = sorted(m for m in _imported_roots(path) if _is_ros(m))
        if bad:
            offenders.append('%s imports %s' % (path, ', '.join(bad)))
    assert not offenders, '\n'.join(offenders)


def test_third_party_ml_apis_are_fenced():
    """Lerobot and transformers are each imported from exactly one adapter module."""
    fences = {'lerobot': 'policy/promptda_policy/lerobot_adapter.py',
              'transformers': 'promptda_ros/model/hf_adapter.py'}
    for lib, adapter in fences.items():
        users = sorted(p for p in _python_files('promptda_ros', 'policy', 'bench')
                       if lib in _imported_roots(p))
        assert users in ([], [adapter]), '%s imported outside %s: %s' % (lib, adapter, users)


def test_core_imports_without_rclpy():
    """Import every non-ROS module with ROS libraries made unimportable."""
    modules = []
    for path in _python_files('promptda_ros'):
        if path.startswith(ROS_LAYER):
            continue
        mod = path[:-3].replace('/', '.')
        modules.append(mod[:-len('.__init__')] if mod.endswith('.__init__') else mod)
    assert 'promptda_ros.core.projection' in modules and 'promptda_ros.pipeline' in modules
    script = textwrap.dedent("""
        import importlib, sys
        BLOCKED = %r
        class Block:
            def find_spec(self, name, path=None, target=None):
                root = name.split('.')[0]
                if root in BLOCKED or root.endswith(('_msgs', '_srvs', '_interfaces')):
                    raise ImportError('blocked for this test: ' + name)
                return None
        sys.meta_path.insert(0, Block())
        for m in %r:
            importlib.import_module(m)
        leaked = sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED)
        assert not leaked, leaked
        print('imported', len(%r))
    """) % (ROS_MODULES, modules, modules)
    proc = subprocess.run([sys.executable, '-c', script], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_perception_code_parses_as_python_3_10():
    """ROS 2 Humble and Jetson images run Python 3.10: no newer syntax outside the policy."""
    bad = []
    for path in _python_files('promptda_ros', 'launch'):
        with open(os.path.join(ROOT, path), encoding='utf-8') as f:
            source = f.read()
        try:
            ast.parse(source, filename=path, feature_version=(3, 10))
        except SyntaxError as exc:
            bad.append('%s:%s: %s' % (path, exc.lineno, exc.msg))
    assert not bad, '\n'.join(bad)


def _module_graph():
    """Return ``{module: set of first-party modules it imports}`` (any depth, deferred too)."""
    modules = {}
    for package, folder in PACKAGE_FOLDERS.items():
        for path in _python_files(folder):
            rel = os.path.relpath(os.path.join(ROOT, path), os.path.join(ROOT, folder))
            name = package + ('.' + rel[:-3].replace(os.sep, '.') if rel != '__init__.py' else '')
            modules[name.removesuffix('.__init__')] = path

    def resolve(name):
        while name and name not in modules:
            name = name.rpartition('.')[0]
        return name

    graph = {}
    for name, path in modules.items():
        with open(os.path.join(ROOT, path), encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
        out = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out.update(resolve(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for a in node.names:  # ``from package import module`` names the module
                    sub = node.module + '.' + a.name
                    out.add(sub if sub in modules else resolve(node.module))
        out.discard('')
        out.discard(name)
        graph[name] = out
    return graph


def test_packages_depend_one_way():
    """Perception imports neither policy nor simulator; the policy never imports the simulator."""
    rank = {package: i for i, package in enumerate(PACKAGE_LAYERS)}
    upward = sorted('%s imports %s' % (name, target)
                    for name, targets in _module_graph().items() for target in targets
                    if rank[target.split('.')[0]] > rank[name.split('.')[0]])
    assert not upward, '\n'.join(upward)


def _policy_layer(module):
    """Rank of a policy module in POLICY_LAYERS (-1: the package root, its constants)."""
    if module == 'promptda_policy':
        return -1
    for rank in (0, 2):
        if module.startswith(POLICY_LAYERS[rank] + '.') or module == POLICY_LAYERS[rank]:
            return rank
    return 1


def test_policy_layers_depend_one_way():
    """Control imports neither model nor nodes; nothing in the policy imports its ROS nodes."""
    graph = _module_graph()
    assert {'promptda_policy.control.safety_filter', 'promptda_policy.ros.policy_node',
            'promptda_policy.modeling_act_depth'} <= set(graph), 'the policy layout changed'
    upward = sorted('%s imports %s' % (name, target) for name, targets in graph.items()
                    if name.startswith('promptda_policy') for target in targets
                    if target.startswith('promptda_policy')
                    and _policy_layer(target) > _policy_layer(name))
    assert not upward, '\n'.join(upward)
    heavy = sorted('%s imports %s' % (path, ', '.join(sorted(bad)))
                   for path in _python_files('policy/promptda_policy/control')
                   if (bad := _imported_roots(path) & {'torch', 'lerobot', 'transformers'}))
    assert not heavy, '\n'.join(heavy)


def test_no_import_cycles():
    """No two first-party modules import each other, directly or through others."""
    graph = _module_graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert len(graph) > 50, 'the graph lost its modules'
    assert not cycles, cycles


def _perception_layer(module):
    """Return the layer index of a ``promptda_ros`` module (the package root is layer 0)."""
    parts = module.split('.')
    if len(parts) == 1:
        return 0
    for i, names in enumerate(PERCEPTION_LAYERS):
        if parts[1] in names:
            return i
    raise AssertionError('%s is in no layer of PERCEPTION_LAYERS: add it' % module)


def test_perception_modules_import_no_higher_layer():
    """Inside promptda_ros a module imports only its own layer and those below it."""
    upward = []
    for name, targets in sorted(_module_graph().items()):
        if name.split('.')[0] != 'promptda_ros':
            continue
        for target in sorted(targets):
            if target.split('.')[0] == 'promptda_ros' and \
                    _perception_layer(target) > _perception_layer(name):
                upward.append('%s imports %s' % (name, target))
    assert not upward, '\n'.join(upward)


def test_only_training_imports_the_training_folders():
    """Serving, evaluation and the other packages never import promptda_ros.train / .adapt."""
    def training(module):
        return module.startswith(tuple(t + '.' for t in TRAINING)) or module in TRAINING

    offenders = sorted('%s imports %s' % (name, target)
                       for name, targets in _module_graph().items() if not training(name)
                       for target in targets if training(target))
    assert not offenders, '\n'.join(offenders)


def _mccabe(function):
    """Return the McCabe cyclomatic complexity of a function node (the radon / mccabe count).

    1 + one per branch point: if / elif / for / while / except / with-less assert, each
    boolean operator's extra operands, conditional expressions and comprehension filters.
    Nested functions and classes count on their own, not here.
    """
    count = 1
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.If, ast.IfExp, ast.For, ast.AsyncFor, ast.While,
                             ast.ExceptHandler, ast.Assert)):
            count += 1
        elif isinstance(node, ast.BoolOp):
            count += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            count += 1 + len(node.ifs)
        elif isinstance(node, ast.Try):
            count += bool(node.orelse)
        stack.extend(ast.iter_child_nodes(node))
    return count


def test_complexity_of_the_once_largest_functions():
    """``bagio._read``, ``train/cli.train`` and ``eval/cli.evaluate`` stay at most 15."""
    found = {}
    for path, name in COMPLEX_BEFORE:
        with open(os.path.join(ROOT, path), encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                found['%s:%s' % (path, name)] = _mccabe(node)
    assert len(found) == len(COMPLEX_BEFORE), 'a function was renamed: %s' % sorted(found)
    over = {k: v for k, v in found.items() if v > MAX_COMPLEXITY}
    assert not over, over


MAX_ROS_FUNCTION_LINES = 80


def test_no_long_function_in_the_ros_layer():
    """Nodes are wiring: no function of the ROS layers (all three packages) exceeds 80 lines."""
    long = []
    folders = ('promptda_ros/ros', 'policy/promptda_policy/ros', 'sim/promptda_sim')
    for path in _python_files(*folders):
        if not path.startswith(ROS_LAYER):
            continue
        with open(os.path.join(ROOT, path), encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_ROS_FUNCTION_LINES:
                    long.append('%s:%s (%d lines)' % (path, node.name, lines))
    assert not long, long
