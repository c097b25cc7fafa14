"""Builds dojax's native CPU step kernel (csrc/) as a shared library beside the Python package.

Everything else about the package is in pyproject.toml. The kernel is a plain shared library that
dojax loads with ctypes and registers with XLA's FFI; its headers come from jaxlib (a build
requirement). Set DOJAX_NATIVE_FLAGS to replace the optimisation flags (default: -O3
-march=native -funroll-loops: the kernel is built on the machine that runs it; -march=native was
worth 18% and -funroll-loops 3.5% on the humanoid's iteration, bench/RESULTS.md).
"""

import os
import shlex

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildKernel(build_ext):
    def build_extensions(self):
        import jaxlib

        include = os.path.join(os.path.dirname(jaxlib.__file__), "include")
        for ext in self.extensions:
            ext.extra_compile_args += ["-isystem", include]
        super().build_extensions()


flags = shlex.split(os.environ.get("DOJAX_NATIVE_FLAGS", "-O3 -march=native -funroll-loops"))
kernel = Extension(
    "dojax._step_kernel",
    sources=["csrc/step_kernel.cc"],
    depends=["csrc/elements.inc"],
    language="c++",
    # -g0: no debug information for the generated straight-line code (Python's default -g doubles
    # the build's time and makes the library 7x larger)
    extra_compile_args=["-std=c++17", "-fno-math-errno", "-fopenmp", "-g0"] + flags,
    extra_link_args=["-fopenmp"],
)

setup(ext_modules=[kernel], cmdclass={"build_ext": BuildKernel})
