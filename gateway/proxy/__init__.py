"""The data plane (uvloop + httptools proxy). It reads `gateway.snapshot` only and never imports
`gateway.control`; it arrives with the data-plane issue."""
