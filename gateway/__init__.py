"""The data plane (uvloop + httptools proxy). It reads `gateway.snapshot` only and never imports
`gateway.control`; it arrives with the data-plane issue."""

from gateway import compiled as _compiled

_compiled.check()  # before any compiled module can be imported
