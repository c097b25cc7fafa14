"""The JAX settings that importing dojax makes: the persistent compilation cache, inline CPU dispatch."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from dojax.compilation_cache import cache_dir


def test_cache_dir_follows_the_environment():
    assert cache_dir({"DOJAX_CACHE_DIR": "/tmp/somewhere"}) == Path("/tmp/somewhere")
    for off in ("off", "0", "None", "", " false "):
        assert cache_dir({"DOJAX_CACHE_DIR": off}) is None
    assert cache_dir({"XDG_CACHE_HOME": "/var/cache/me"}) == Path("/var/cache/me/dojax/xla")
    assert cache_dir({}) == Path.home() / ".cache" / "dojax" / "xla"


def _python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("DOJAX_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR",
                                                                  "JAX_CPU_ENABLE_ASYNC_DISPATCH")}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**environ, **env},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_import_configures_jax_and_respects_choices(tmp_path):
    show = "import dojax, jax; print(jax.config.jax_compilation_cache_dir)"
    assert _python(show, DOJAX_CACHE_DIR=str(tmp_path / "c")) == [str(tmp_path / "c")]
    assert (tmp_path / "c").is_dir()
    assert _python(show, DOJAX_CACHE_DIR="off") == ["None"]
    # a directory given to JAX directly wins
    assert _python(show, DOJAX_CACHE_DIR=str(tmp_path / "c"), JAX_COMPILATION_CACHE_DIR=str(tmp_path / "j")) == [
        str(tmp_path / "j")]
    # dojax's directory comes with dojax's threshold; a directory given to JAX keeps JAX's
    threshold = "import dojax, jax; print(jax.config.jax_persistent_cache_min_compile_time_secs)"
    assert _python(threshold, DOJAX_CACHE_DIR=str(tmp_path / "c")) == ["0.1"]
    assert _python(threshold, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "j")) == ["1.0"]
    # a directory that cannot be created leaves the cache off instead of failing later
    (tmp_path / "file").write_text("")
    assert _python(show, DOJAX_CACHE_DIR=str(tmp_path / "file" / "sub")) == ["None"]


def test_import_runs_cpu_programs_inline_unless_the_environment_chose():
    show = "import dojax, jax; print(jax.config.values['jax_cpu_enable_async_dispatch'])"
    assert _python(show) == ["False"]
    assert _python(show, JAX_CPU_ENABLE_ASYNC_DISPATCH="1") == ["True"]


def test_a_second_process_loads_the_compiled_step(tmp_path):
    # a pendulum's step (the native kernel's where it is built) compiles in well over dojax's
    # 0.1 s threshold
    code = """
        import jax
        from jax._src import monitoring
        hits = []
        monitoring.register_event_listener(lambda name, **kw: hits.append(name))
        import dojax
        mech = dojax.load("pendulum", timestep=0.01)
        dojax.step(mech, mech.initial_state())[0].x.block_until_ready()
        print(hits.count("/jax/compilation_cache/cache_hits"), hits.count("/jax/compilation_cache/cache_misses"))
    """
    first = _python(code, DOJAX_CACHE_DIR=str(tmp_path))
    assert first[0] == "0" and int(first[1]) >= 1
    assert any(p.name.endswith("-cache") for p in tmp_path.iterdir())
    second = _python(code, DOJAX_CACHE_DIR=str(tmp_path))
    assert int(second[0]) >= 1
