"""Thin wrappers over Linux system calls (ctypes). The only package that talks to libc.

Every failure is an ``OSError(errno, "operation", path)``; nothing here knows about OCI specs.
"""
