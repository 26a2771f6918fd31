"""regopy (rego-cpp), loaded so that the process keeps one C++ allocator.

rego-cpp's library (``librego_shared.so``) carries its own allocator, snmalloc, and
exports the global C++ ``operator new``/``operator delete``. ctypes opens it with
``RTLD_LOCAL``, but when it is the first library in the process that needs the C++
runtime, the runtime (``libstdc++.so.6``) is loaded as its dependency, in its lookup
scope, and the runtime's own calls to ``new``/``delete`` bind to snmalloc's. Every C++
extension loaded later shares that runtime, so its memory then comes from one allocator
and goes back to the other: RE2's Python binding (which carries some ``std::string``
code of its own) hands a buffer the runtime took from snmalloc to glibc's ``free``, and
the process aborts ("double free or corruption", "free(): invalid pointer") the first
time RE2 compiles a pattern with a case-folded literal prefix such as ``^[hH][tT][tT][pP]``.

Opening the C++ runtime first, into the global scope (or promoting it there when another
extension already loaded it), makes every library loaded after it, rego-cpp included,
bind ``new``/``delete`` to the runtime's (glibc ``malloc``): one allocator. The rest of
the package imports regopy only from here (a test checks it).
"""

from __future__ import annotations

import ctypes
import sys

if sys.platform == "linux":  # pragma: no branch - the control plane runs on Linux
    ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)

import regopy  # after the runtime, on purpose
from regopy import rego_shared

__all__ = ["rego_shared", "regopy"]
