from __future__ import annotations

import errno

import pytest

from ketch.linux.seccomp import (
    SECCOMP_FILTER_FLAG_LOG,
    SECCOMP_FILTER_FLAG_TSYNC,
    action_available,
    flag_supported,
    load_filter,
)


@pytest.mark.parametrize("bpf", [b"", b"\x06\x00\x00\x00\x00\x00\xff", b"\x06\x00\x00\x00\x00\x00\xff\x7f" * 4097])
def test_load_filter_rejects_malformed_programs_before_the_kernel(bpf: bytes) -> None:
    with pytest.raises(OSError) as info:
        load_filter(bpf, 0)
    assert info.value.errno == errno.EINVAL


def test_probes() -> None:
    assert flag_supported(SECCOMP_FILTER_FLAG_TSYNC) and flag_supported(SECCOMP_FILTER_FLAG_LOG)
    assert not flag_supported(1 << 20)
    assert action_available(0x7FFF0000)  # SECCOMP_RET_ALLOW
    assert not action_available(0x12340000)
