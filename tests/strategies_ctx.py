"""Random programs with the contexts and locks of issue 17, part 4 (spec/v3_ctx.py),
for the differential tests (tests/test_v3_ctx.py): spinlocks with every variant,
an rw_semaphore, preemption, softirqs and interrupts disabled, might_sleep(), an
irq handler requested, freed, synchronized, disabled and enabled (devm too), and
sleeping statements in and out of atomic context.  Pairs may be left unbalanced
(unlock-not-held, underflows).  Finite-state by construction: the handler, which
may fire for ever, only toggles booleans; the threads run straight-line code."""
from __future__ import annotations

from hypothesis import strategies as st

LOCKS = [("spin_lock", "spin_unlock"), ("spin_lock_irq", "spin_unlock_irq"),
         ("spin_lock_irqsave", "spin_unlock_irqrestore"), ("spin_lock_bh", "spin_unlock_bh")]
SECTIONS = [("preempt_disable()", "preempt_enable()"), ("local_bh_disable()", "local_bh_enable()"),
            ("local_irq_disable()", "local_irq_enable()"), ("local_irq_save()", "local_irq_restore()"),
            ("down_read(r0)", "up_read(r0)"), ("down_write(r0)", "up_write(r0)"),
            ("disable_irq(i0)", "enable_irq(i0)")]
SIMPLE = ["v = v + 1", "b = not b", "assert v < 2", "might_sleep()", "lock(l0); unlock(l0)",
          "wait(c0)", "complete(c0)", "request_irq(i0)", "devm_request_irq(i0)", "free_irq(i0)",
          "synchronize_irq(i0)", "disable_irq_nosync(i0)"]
HANDLER = ["b = not b", "spin_lock(s0); b = true; spin_unlock(s0)", "if b { b = false }",
           "assert not b", "lock(l0); unlock(l0)", "might_sleep()"]


@st.composite
def programs_ctx(draw) -> str:
    lines = ["spinlock s0", "rwsem r0", "mutex l0", "completion c0", "var v = 0", "var b = false",
             f"fn h0 in core {{ {draw(st.sampled_from(HANDLER))} }}", "irq i0 runs h0"]

    def stmt(depth: int) -> str:
        k = draw(st.sampled_from(["simple", "simple", "lock", "section"] + (["if"] if depth < 1 else [])))
        if k == "simple":
            return draw(st.sampled_from(SIMPLE))
        inner = "; ".join(stmt(depth + 1) for _ in range(draw(st.integers(0, 2))))
        if k == "if":
            return f"if b {{ {inner or 'v = v + 1'} }}"
        take, drop = draw(st.sampled_from(LOCKS)) if k == "lock" else draw(st.sampled_from(SECTIONS))
        if k == "lock":
            take, drop = f"{take}(s0)", f"{drop}(s0)"
        parts = [take] + ([inner] if inner else [])
        if draw(st.integers(0, 5)) > 0:      # now and then left unbalanced
            parts.append(drop)
        return "; ".join(parts)

    for i in range(draw(st.integers(2, 3))):
        body = "\n    ".join(stmt(0) for _ in range(draw(st.integers(1, 3))))
        lines.append(f"thread t{i} {{\n    {body}\n}}")
    return "\n".join(lines) + "\n"
