"""OS-level isolation for untrusted code: bubblewrap namespaces around this machine's Python.

``runtime`` decides what the sandbox may see (the interpreter, its standard library and the shared
libraries they load, all read-only); ``bwrap`` builds the command line, checks that namespaces can
be created here, and runs one process tree with limits, killing all of it when it ends.
"""
