"""The dm-builtin.c family with K readers, as .mproof text (safe: release in core; crash: in dm).
K may be "*": `thread reader[*]`, every number of readers at once."""
from __future__ import annotations

TEMPLATE = """\
# dm-builtin.c with {k} sysfs readers; release method in {owner} ({kind}).
module dm refs 2
object md_kobj refs 1 release dm_kobject_release
completion kobj_released
var published = true

fn dm_kobject_release in {owner} {{
    complete(kobj_released)
}}

fn dm_ioctl_remove in dm {{
    published = false
    put(md_kobj)
    wait(kobj_released)
    module_put(dm)
}}

thread reader[{k}] {{
    local found = false
    atomic {{ if published {{ get(md_kobj); found = true }} }}
    if found {{ put(md_kobj) }}
}}

thread admin {{
    dm_ioctl_remove()
    module_put(dm)
    unload(dm)
}}

cover dm_unloaded: not loaded(dm)
{expect}
"""


def dm_model(k, safe: bool) -> str:
    return TEMPLATE.format(k=k, owner="core" if safe else "dm", kind="safe" if safe else "crash",
                           expect="expect proved" if safe else "expect violated code-after-unload")
