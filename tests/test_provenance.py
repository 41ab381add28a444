"""Provenance says which machine made a result, including when its kernels were capped below the CPU's."""
from __future__ import annotations

from charclf.provenance import ISA_LIMITS, machine_info


def test_an_instruction_set_cap_is_recorded_beside_the_cpu_flags(monkeypatch):
    for name in ISA_LIMITS:
        monkeypatch.delenv(name, raising=False)
    plain = machine_info()
    assert "isa_limits" not in plain and "cpu_flags" in plain
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    capped = machine_info()
    assert capped["isa_limits"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    # oneDNN reads the cap once per process, at its first use: what is recorded is what this process got, which is
    # why it is recorded beside the cap (a fresh process under ONEDNN_MAX_CPU_ISA=AVX2 reports False here).
    assert isinstance(capped["onednn_bf16"], bool) and capped["cpu_capability"]
    assert capped["cpu_flags"] == plain["cpu_flags"]  # the CPU itself is unchanged
