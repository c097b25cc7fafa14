"""Model files: which format a file is, where its ``package://`` meshes are, MuJoCo's parse and compile.

A file's format is its root element: ``<mujoco>`` for MJCF, ``<robot>`` for URDF; a loader given
the other format says so and names the loader to use.

``package://NAME/REST`` (ROS's form of a mesh path in URDF) resolves to ``DIR/NAME/REST`` for the
first directory ``DIR`` that has it: first those of ``package_dirs`` (where a directory named
``NAME`` itself also counts as the package), then the URDF file's own directory and each directory
above it (a folder named ``NAME`` there, or one of the directories on the way up named ``NAME``).
"""

import os
import warnings
import xml.etree.ElementTree as ElementTree

_ROOTS = {"MJCF": "mujoco", "URDF": "robot"}
_LOADERS = {"MJCF": "load_mjcf", "URDF": "load_urdf"}
_ARTICLE = {"MJCF": "an", "URDF": "a"}


def mujoco_module():
    """The ``mujoco`` package (an ImportError that says how to install it if missing)."""
    try:
        import mujoco
    except ImportError as err:
        raise ImportError("dojax model import needs the mujoco package (pip install mujoco)") from err
    return mujoco


def check_file(path, kind):
    """``path`` as a string, if it is an existing file of format ``kind`` ("MJCF" or "URDF")."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{kind} file {path!r} does not exist (or is not a file)")
    try:
        root = next(ElementTree.iterparse(path, events=("start",)))[1].tag
    except ElementTree.ParseError:
        return path  # malformed: MuJoCo's parser reports where
    other = next((k for k, tag in _ROOTS.items() if tag == root and k != kind), None)
    if other is not None:
        raise ValueError(f"{path!r} is {_ARTICLE[other]} {other} file (root element <{root}>), not {kind}: "
                         f"load it with dojax.{_LOADERS[other]}")
    return path


def spec_from_file(path, kind):
    """MuJoCo's MjSpec of a file (a ValueError naming the file, and MuJoCo's element and line)."""
    mujoco = mujoco_module()
    try:
        return mujoco.MjSpec.from_file(path)
    except Exception as err:  # MuJoCo raises ValueError with the element and line where it knows them
        raise ValueError(f"cannot parse {kind} file {path!r}: {err}") from None


def compile_spec(spec, path, kind):
    """The compiled MjModel and MuJoCo's compiler warnings (reported with the import's)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = spec.compile()
    except Exception as err:
        raise ValueError(f"cannot compile {kind} file {path!r}: {err}") from None
    return model, [f"MuJoCo: {w.message}" for w in caught]


def resolve_packages(spec, path, package_dirs=()):
    """Replace each ``package://`` mesh file of ``spec`` (read from ``path``) by the file it names."""
    if isinstance(package_dirs, (str, os.PathLike)):
        package_dirs = [package_dirs]
    for mesh in spec.meshes:
        if mesh.file.startswith("package://"):
            mesh.file = _find_package_file(mesh.file, path, [os.fspath(d) for d in package_dirs])


def _find_package_file(uri, path, package_dirs):
    package, _, rest = uri[len("package://"):].partition("/")
    candidates = []
    for d in package_dirs:
        candidates += [os.path.join(d, package, rest)] + ([os.path.join(d, rest)] if _named(d, package) else [])
    d = os.path.dirname(os.path.abspath(path))
    while True:
        candidates += [os.path.join(d, package, rest)] + ([os.path.join(d, rest)] if _named(d, package) else [])
        if os.path.dirname(d) == d:
            break
        d = os.path.dirname(d)
    for c in candidates:
        if os.path.isfile(c):
            return os.path.abspath(c)
    searched = list(package_dirs) + [f"the directories above {os.path.dirname(os.path.abspath(path))!r}"]
    raise ValueError(f"URDF file {path!r}: mesh {uri!r} not found: no package {package!r} holding {rest!r} in "
                     f"{searched} (pass package_dirs=[the directory that holds {package!r}])")


def _named(directory, package):
    return os.path.basename(os.path.normpath(directory)) == package
