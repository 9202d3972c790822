"""A Z3 model of an unrolled path, read back in the reference semantics' terms."""
from __future__ import annotations

from typing import Optional

import z3

from modproof.spec.model import DONE
from modproof.spec.semantics import State


def decode_state(enc, model: z3.ModelRef, t: int) -> State:
    """State `t` of `model`, in the representation of `spec.semantics`."""
    p = enc.program

    def get(key):
        sv = enc.state_var(key)
        v = model.eval(enc.at(key, t), model_completion=True)
        return z3.is_true(v) if sv.is_bool else v.as_long()

    n = len(p.threads)
    return State(
        pcs=tuple(next((pc for pc in (DONE,) + tuple(st.id for st in p.threads[i].steps)
                        if get(("at", i, pc))), DONE) for i in range(n)),
        locs=tuple(tuple(get(("loc", i, j)) for j in range(len(p.threads[i].locals)))
                   for i in range(n)),
        refs=tuple(get(("refs", k)) for k in range(len(p.objects))),
        done=tuple(get(("done", k)) for k in range(len(p.completions))),
        mrefs=tuple(get(("mrefs", k)) for k in range(len(p.modules))),
        mstate=tuple(get(("mstate", k)) for k in range(len(p.modules))),
        holders=tuple(get(("holder", k)) for k in range(len(p.mutexes))),
        vars=tuple(get(("var", k)) for k in range(len(p.vars))),
    )


def decode_mover(enc, model: z3.ModelRef, t: int) -> Optional[int]:
    """The thread that moved at step `t` of `model`."""
    for i in range(len(enc.program.threads)):
        if z3.is_true(model.eval(enc.moved(i, t), model_completion=True)):
            return i
    return None
