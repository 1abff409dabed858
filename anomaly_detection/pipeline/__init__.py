"""The scripts' shared machinery: the command line, logging and exit codes, and the run context
that coordinates one script run's steps.

See ARCHITECTURE.md for the layers and which subpackage may import which.
"""
