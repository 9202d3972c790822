/* The dm-builtin.c family, written by hand for Spin: K sysfs readers, an admin
 * that removes the device and unloads dm.  Compile with -DK=N; with -DCRASH the
 * release method lives in dm (the bug), else in core (the fix).
 * Each modproof step is one atomic Promela step; a step of dm's code asserts
 * that dm is not gone (code-after-unload).  Mirrors bench/dm_family.py. */
#ifndef K
#define K 1
#endif
#define LOADED 0
#define UNLOADING 1
#define GONE 2
#define DM_CODE assert(dm_state != GONE)
#ifdef CRASH
#define RELEASE_CODE DM_CODE
#else
#define RELEASE_CODE skip
#endif

byte dm_refs = 2;
byte dm_state = LOADED;
byte md_refs = 1;
byte kobj_released = 0;
bool published = true;

active [K] proctype reader() {
    bool found = false;
    atomic { if :: published -> assert(md_refs > 0); md_refs++; found = true :: else -> skip fi };
    if
    :: found ->
        atomic {
            assert(md_refs > 0); md_refs--;
            if :: md_refs == 0 -> goto release :: else -> goto out fi
        }
release:
        atomic { RELEASE_CODE; kobj_released++ };      /* complete(kobj_released) */
        atomic { RELEASE_CODE }                        /* return from dm_kobject_release */
    :: else -> skip
    fi;
out:
    atomic { found = false }                           /* the thread function returns */
}

active proctype admin() {
    skip;                                              /* dm_ioctl_remove() */
    atomic { DM_CODE; published = false };
    atomic {
        DM_CODE; assert(md_refs > 0); md_refs--;
        if :: md_refs == 0 -> goto release :: else -> goto waiting fi
    }
release:
    atomic { RELEASE_CODE; kobj_released++ };
    atomic { RELEASE_CODE };
waiting:
    atomic { kobj_released > 0 -> DM_CODE; kobj_released-- };   /* wait(kobj_released) */
    atomic { DM_CODE; assert(dm_refs > 0); dm_refs-- };        /* module_put(dm) */
    atomic { DM_CODE };                                        /* return from dm_ioctl_remove */
    atomic { assert(dm_refs > 0); dm_refs-- };                 /* module_put(dm), core */
    atomic {                                                   /* unload(dm) */
        (dm_state != LOADED || dm_refs == 0) ->
        if :: dm_state == LOADED -> dm_state = UNLOADING :: else -> skip fi
    };
    atomic { dm_state = GONE };                                /* ... frees dm's code */
    skip                                                       /* the thread function returns */
}
