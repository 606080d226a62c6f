/*
 * test_gc_conc_split.c — the concurrent mark (gcstoptheworld=0, alloc/mgc.c
 * CONCURRENT MARK) with tasks really running on other CPUs while a cycle
 * marks (GC.md T2 with the world running, T7).  Compiled with -fsplit-stack
 * like task code.
 *
 * T2c: a deterministic lost-object scenario.  A 40000-node list hangs from
 * a global.  While the collector's CPU drains the mark alone, a task on
 * another CPU takes the last node X out of the list (prev->next = 0) and
 * hangs it from a new node B (allocated black) that a global holds.  The
 * round counts only if prev was still white afterwards (the marker had not
 * reached it: X was reachable through nothing the marker had seen) and the
 * task's stack was scrubbed of X before the world stopped again.  With the
 * barrier, X must survive and gccheckmark must find nothing; the negative
 * control, with the barrier off, must have gccheckmark report X as reached
 * from object B.
 *
 * T3c and T3d (stacks scanned once while the world runs): below.
 *
 * T7 slow (gc_concurrent_stress_trees, 4+ CPUs): binary search trees,
 * below.
 *
 * T7 quick: two tasks per CPU churn their own lists (insert, delete, move a
 * node to the head, through GC_WB) and make 256-byte garbage with GOGC=5,
 * so that cycles started by their own allocations run back to back,
 * concurrently, while the lists change; gccheckmark checks every mark; at
 * the end every list is walked against its task's checksum.  A 2 MiB
 * ballast list is marked before the lists (t7_roots).  Rounds repeat until
 * five concurrent cycles ran and 500 list operations overlapped them (the
 * host's load decides how many do).  Its negative control, the barrier off, repeats
 * until gccheckmark reports a loss — and fails if 20000 overlapping
 * operations lost nothing it could see.
 */
#include "../../alloc/malloc.h"
#include "../../alloc/mbarrier.h"
#include "../../alloc/mgc.h"
#include "fmt.h"
#include "kernel.h"
#include "ktest.h"
#include "smp.h"
#include "stackgrow.h"
#include "task.h"
#include "testutil.h"

struct cnode {
    struct cnode *next;
    uint64_t id, check;
};
static const uint8_t cnode_mask[1] = {0x1};
static const gotype cnode_type = {sizeof(struct cnode), 8, cnode_mask, "cnode"};
static uint64_t ccheck(uint64_t id) { return id * 0x9E3779B97F4A7C15ull + 777; }

#define SCRUB_REGS()                                                                           \
    __asm__ volatile("xor %%ebx, %%ebx\n\txor %%r12d, %%r12d\n\txor %%r13d, %%r13d\n\t"        \
                     "xor %%r14d, %%r14d\n\txor %%r15d, %%r15d" ::: "rbx", "r12", "r13", "r14", \
                     "r15", "memory")
#define HIDE 0x5A5A5A5A5A5A5A5Aull

/* The checkmark reports of the test (alloc_set_error_hook).
 *
 * MISALIGNED STACK WORDS are not counted as losses.  The scan of task
 * stacks is conservative, and a byte store into a stack slot keeps the
 * upper bytes of what an earlier frame left there: a node pointer whose
 * low byte was replaced points into a neighbouring node that nobody holds
 * (alloc/platform.h plat_systemstack: gccheckmark found next_free_args'
 * class byte over an old node pointer, 0x...425 into the node at
 * 0x...420, a node deleted before the cycle).  When the slot was written
 * after the concurrent mark scanned that stack, only the checkmark sees
 * the word, and reports garbage.  These tests hold nodes by their base or
 * by a field's address (8-byte aligned), never by a byte pointer, so a
 * misaligned word is not a pointer they hold: such a report, and those of
 * the objects it reached, are printed and counted (cc_misaligned) but are
 * not losses.  An aligned word is always a loss. */
static uint32_t cc_reports, cc_from_object, cc_from_stack, cc_other, cc_misaligned;
#define CC_EXCUSED 64
static uintptr_t cc_excused[CC_EXCUSED]; /* objects reached from misaligned words */

/* The hex number after `key` in msg (0: none). */
static uintptr_t cc_hex_after(const char *msg, const char *key)
{
    for (; *msg; msg++)
        if (testutil_starts_with(msg, key)) {
            uintptr_t v = 0;
            for (const char *q = msg + __builtin_strlen(key);; q++) {
                int d = *q >= '0' && *q <= '9' ? *q - '0' : *q >= 'a' && *q <= 'f' ? *q - 'a' + 10 : -1;
                if (d < 0)
                    return v;
                v = v * 16 + (uintptr_t)d;
            }
        }
    return 0;
}

static bool cc_is_excused(uintptr_t obj)
{
    for (uint32_t i = 0; i < CC_EXCUSED && cc_excused[i]; i++)
        if (cc_excused[i] == obj)
            return true;
    return false;
}

/* The report's object was reached from a misaligned task stack word, or
 * from an object that was: remember it (the world is stopped: the word is
 * still there). */
static bool cc_excuse(const char *msg)
{
    uintptr_t obj = cc_hex_after(msg, "gccheckmark: 0x");
    uintptr_t word = cc_hex_after(msg, "from a task stack word at 0x");
    uintptr_t from = cc_hex_after(msg, "reached from object 0x");
    bool excused = (word && (*(const uintptr_t *)word & 7)) || (from && cc_is_excused(from));
    for (uint32_t i = 0; excused && i < CC_EXCUSED; i++)
        if (!cc_excused[i]) {
            cc_excused[i] = obj;
            break;
        }
    return excused;
}

static void cc_hook(const char *msg)
{
    if (testutil_starts_with(msg, "gccheckmark: 0x")) {
        if (cc_excuse(msg)) {
            if (!cc_misaligned++)
                kprintf("# not a loss (a misaligned stack word): %s\n", msg);
            return;
        }
        if (!cc_reports)
            kprintf("# %s\n", msg);
        cc_reports++;
        cc_from_object += testutil_contains(msg, "reached from object 0x");
        cc_from_stack += testutil_contains(msg, "from a task stack word");
    } else if (!testutil_starts_with(msg, "gccheckmark: ... ")) {
        cc_other++;
        kprintf("# unexpected report: %s\n", msg);
    }
}

/* Concurrent mode, checkmark in report mode, the hook; undone by cc_end. */
struct cc_saved {
    uint32_t stw, checkmark;
    int32_t gogc;
    alloc_error_hook_t hook;
};
static void cc_begin(struct cc_saved *s, int32_t gogc)
{
    gc_collect(); /* start clean */
    cc_reports = cc_from_object = cc_from_stack = cc_other = cc_misaligned = 0;
    __builtin_memset(cc_excused, 0, sizeof cc_excused);
    s->stw = gc_get_stoptheworld();
    s->checkmark = gc_get_checkmark();
    s->gogc = gc_set_percent(gogc);
    s->hook = alloc_set_error_hook(cc_hook);
    gc_set_checkmark(GC_CHECKMARK_REPORT);
    gc_set_stoptheworld(0);
}

static void cc_end(const struct cc_saved *s)
{
    gc_set_stoptheworld(s->stw);
    gc_set_percent(s->gogc);
    gc_set_checkmark(s->checkmark);
    alloc_set_error_hook(s->hook);
}

/* The rule above, on made-up reports: a word holding a misaligned address
 * excuses its object and what that object reached; an aligned one does not
 * (negative control: the same report with the word aligned counts). */
KTEST(gc_checkmark_misaligned_stack_word_not_a_loss, KTEST_QUICK)
{
    volatile uintptr_t word = 0xffffc00004048425ull; /* a byte over a node pointer */
    char msg[200];
    cc_reports = cc_misaligned = 0;
    __builtin_memset(cc_excused, 0, sizeof cc_excused);
    ksnprintf(msg, sizeof msg, "gccheckmark: 0xffffc00004048420 (span 0xffffc00004048000 class 4, "
              "32 B) is reachable but was not marked; reached from a task stack word at 0x%lx",
              (unsigned long)(uintptr_t)&word);
    cc_hook(msg);
    cc_hook("gccheckmark: 0xffffc0000400b000 (span 0xffffc0000400a000 class 4, 32 B) is reachable "
            "but was not marked; reached from object 0xffffc00004048420");
    KCHECKF(cc_misaligned == 2 && cc_reports == 0, "misaligned: %u excused, %u losses",
            cc_misaligned, cc_reports);
    word = 0xffffc00004048420ull;
    cc_hook(msg);
    cc_hook("gccheckmark: 0xffffc0000400c000 (span 0xffffc0000400c000 class 4, 32 B) is reachable "
            "but was not marked; reached from object 0xffffc00004048421");
    KCHECKF(cc_misaligned == 2 && cc_reports == 2, "aligned: %u excused, %u losses", cc_misaligned,
            cc_reports);
    cc_reports = cc_misaligned = 0;
}

/* No task can run while the only CPU marks: say so (the test has nothing to show). */
static bool one_cpu(void)
{
    if (smp_ncpu() >= 2)
        return false;
    kprintf("# one CPU: no task runs while the collector's CPU marks\n");
    return true;
}

static bool in_concurrent_mark(void)
{
    return __atomic_load_n(&gc_phase, __ATOMIC_ACQUIRE) == GC_MARK &&
           !__atomic_load_n(&gc_stop_pending, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------ T2c */

#define T2C_LEN 40000
#define T2C_TRIES 60

static struct cnode *t2c_head;   /* root (bss) */
static struct cnode *t2c_holder; /* root (bss): B */
static uintptr_t t2c_prev_hidden; /* not a root: the next-to-last node, XOR HIDE */
static struct {
    volatile int done;  /* the mutator made a valid round */
    volatile int stop;  /* the collector gave up */
    uint32_t rounds;    /* mutations tried */
    uintptr_t x_hidden; /* X, XOR HIDE */
} t2c;

/* The mutation: X out of the list, into B.  Returns prev's colour after it
 * (1: still white). */
static __attribute__((noinline)) int t2c_mutate(void)
{
    struct cnode *prev = (struct cnode *)(t2c_prev_hidden ^ HIDE);
    struct cnode *x = prev->next;
    struct cnode *b = newobject(&cnode_type);
    b->id = 0;
    b->check = ccheck(0);
    GC_WB(b->next, x);
    t2c_holder = b;
    GC_WB(prev->next, (struct cnode *)0);
    t2c.x_hidden = (uintptr_t)x ^ HIDE;
    return !gc_is_marked(prev);
}

/* Put X back at the end of the list (a round that did not count). */
static __attribute__((noinline)) void t2c_undo(void)
{
    struct cnode *prev = (struct cnode *)(t2c_prev_hidden ^ HIDE);
    GC_WB(prev->next, (struct cnode *)(t2c.x_hidden ^ HIDE));
    t2c_holder = 0;
}

/* Overwrite the dead frames below the caller's (pointers its callees held),
 * and the callee-saved registers. */
static __attribute__((noinline)) void scrub_below(void)
{
    volatile uint64_t pad[96];
    for (int i = 0; i < 96; i++)
        pad[i] = 0;
    (void)pad[0];
    SCRUB_REGS();
}

static bool my_stack_scanned(uint32_t n);

/* A round starts only once this task's own stack was scanned in the
 * running mark: a scan later in the cycle (a preemption mid-move, then its
 * scheduler's scan) could see X in a register it saved and keep X, and the
 * negative control would lose nothing. */
static void t2c_mutator(void *arg)
{
    (void)arg;
    uint32_t last = ~0u;
    while (!__atomic_load_n(&t2c.stop, __ATOMIC_ACQUIRE)) {
        uint32_t n = gc_num_cycles();
        if (!in_concurrent_mark() || n == last || !my_stack_scanned(n)) {
            task_yield();
            continue;
        }
        last = n;
        t2c.rounds++;
        int white = t2c_mutate();
        scrub_below();
        /* valid: prev was white, and the world had not stopped again */
        if (white && gc_num_cycles() == n && in_concurrent_mark()) {
            __atomic_store_n(&t2c.done, 1, __ATOMIC_RELEASE);
            return;
        }
        t2c_undo();
        scrub_below();
    }
}

static void t2c_collector(void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < T2C_TRIES && !__atomic_load_n(&t2c.done, __ATOMIC_ACQUIRE); i++)
        gc_collect();
    __atomic_store_n(&t2c.stop, 1, __ATOMIC_RELEASE);
}

static void t2c_build(void)
{
    struct cnode *head = 0;
    for (uint32_t i = T2C_LEN; i > 0; i--) {
        struct cnode *c = newobject(&cnode_type);
        c->id = i;
        c->check = ccheck(i);
        c->next = head; /* the world is not marking: no cycle runs concurrently here */
        head = c;
        if (i == T2C_LEN - 1)
            t2c_prev_hidden = (uintptr_t)c ^ HIDE;
    }
    t2c_head = head;
}

static uint32_t t2c_run(int barrier)
{
    __builtin_memset(&t2c, 0, sizeof t2c);
    t2c_holder = 0;
    t2c_build();
    gc_debug_disable_wb = !barrier;
    struct task *m = task_spawn("t2c-mutator", t2c_mutator, 0, TASK_STACK_CONTIGUOUS);
    struct task *c = task_spawn("t2c-collector", t2c_collector, 0, TASK_STACK_CONTIGUOUS);
    sched_run();
    gc_debug_disable_wb = 0;
    task_reap(m);
    task_reap(c);
    return t2c.done;
}

static uint32_t t2c_list_ok(void)
{
    uint32_t ok = 0;
    for (const struct cnode *c = t2c_head; c; c = c->next)
        ok += c->check == ccheck(c->id) && gc_object_state(c) == GC_OBJ_LIVE;
    return ok;
}

KTEST(gc_concurrent_barrier_keeps_moved_object, KTEST_QUICK)
{
    if (one_cpu())
        return;
    struct cc_saved sv;
    cc_begin(&sv, 100);
    uint32_t done = t2c_run(1);
    uint32_t reports = cc_reports;
    gc_collect(); /* X must outlive a second cycle too */
    struct cnode *x = (struct cnode *)(t2c.x_hidden ^ HIDE);
    int x_ok = done && t2c_holder && t2c_holder->next == x && gc_object_state(x) == GC_OBJ_LIVE &&
               x->check == ccheck(T2C_LEN);
    uint32_t list = t2c_list_ok();
    cc_end(&sv);
    KCHECKF(done, "no valid round in %u cycles (%u mutations tried)", T2C_TRIES, t2c.rounds);
    KCHECKF(reports == 0 && cc_other == 0, "barrier on: %u checkmark reports, %u other", reports,
            cc_other);
    KCHECKF(x_ok, "the moved node did not survive");
    KCHECKF(list == T2C_LEN - 1, "%u of %u list nodes intact", list, T2C_LEN - 1);
    kprintf("# valid round after %u mutation(s); the moved node survived two cycles\n",
            t2c.rounds);
    t2c_head = 0;
    t2c_holder = 0;
    gc_collect();
}

/* Negative control: the barrier off, the same round loses X — gccheckmark
 * reports it, reached from B (and marks it: nothing is freed).  A round
 * can keep X all the same: the scans of stacks and registers are
 * conservative, and a word that happens to hold X's address (a spilled
 * span base, a stale frame) marks it.  So valid rounds repeat, up to
 * NEG_ROUNDS, until one loses X; a barrier-off mark that never loses it
 * fails (loaded smp8 boots kept X in about 1 round in 12). */
#define NEG_ROUNDS 5
KTEST(gc_concurrent_catches_missing_barrier, KTEST_QUICK)
{
    if (one_cpu())
        return;
    struct cc_saved sv;
    cc_begin(&sv, 100);
    uint32_t done = 1, rounds = 0, tries = 0;
    while (done && rounds < NEG_ROUNDS && !(cc_reports && cc_from_object)) {
        done = t2c_run(0);
        rounds += done;
        tries += t2c.rounds;
        t2c_head = 0;
        t2c_holder = 0;
        gc_collect();
    }
    uint32_t reports = cc_reports, from_object = cc_from_object;
    cc_end(&sv);
    KCHECKF(done, "no valid round in %u cycles (%u mutations tried)", T2C_TRIES, t2c.rounds);
    KCHECKF(reports >= 1 && from_object >= 1 && cc_other == 0,
            "barrier off: %u checkmark reports (%u from an object), %u other, in %u valid "
            "round(s)", reports, from_object, cc_other, rounds);
    kprintf("# barrier off: %u report(s) in %u valid round(s), %u mutation(s)\n", reports, rounds,
            tries);
}

/* ------------------------------------------------------------ T3c */

/* T3 with the world running: a task's stack is scanned once per cycle
 * (mgc.c CONCURRENT STACK SCAN), so a pointer that moves from the heap
 * into a stack already scanned is kept only by the barrier's shade of the
 * overwritten value.  The mutator waits until its own stack was scanned in
 * the running mark (task gc_scanned), takes X (the list's last node) out
 * of prev into a local (GC_WB(prev->next, 0)), and the round counts if
 * prev was still white (the marker will find prev->next empty) and the
 * world had not stopped.  It keeps X on its stack until the cycle ends,
 * then puts it back.  Barrier on: no checkmark report, X intact; off: X is
 * reported, reached from a task stack word — which a full rescan of every
 * stack at the second pause (before this design) would have hidden. */
static struct {
    volatile int done, stop;
    uint32_t rounds, cycle;
    uint64_t x_check; /* X's check word after its cycle (0: X was not live) */
} t3c;

/* X out of the list; the caller keeps it on its stack. */
static __attribute__((noinline)) struct cnode *t3c_take(int *white)
{
    struct cnode *prev = (struct cnode *)(t2c_prev_hidden ^ HIDE);
    struct cnode *x = prev->next;
    GC_WB(prev->next, (struct cnode *)0);
    *white = !gc_is_marked(prev);
    return x;
}

static __attribute__((noinline)) void t3c_put_back(struct cnode *x)
{
    struct cnode *prev = (struct cnode *)(t2c_prev_hidden ^ HIDE);
    t3c.x_check = gc_object_state(x) == GC_OBJ_LIVE ? x->check : 0;
    GC_WB(prev->next, x);
}

static bool my_stack_scanned(uint32_t n)
{
    return __atomic_load_n(&task_current()->gc_scanned, __ATOMIC_ACQUIRE) == n + 1;
}

static void t3c_mutator(void *arg)
{
    (void)arg;
    uint32_t last = ~0u;
    while (!__atomic_load_n(&t3c.stop, __ATOMIC_ACQUIRE)) {
        uint32_t n = gc_num_cycles();
        if (!in_concurrent_mark() || n == last || !my_stack_scanned(n)) {
            task_yield();
            continue;
        }
        last = n;
        t3c.rounds++;
        int white;
        struct cnode *volatile x = t3c_take(&white);
        bool valid = white && gc_num_cycles() == n && in_concurrent_mark();
        while (gc_num_cycles() == n) /* X lives on this stack alone until the cycle ends */
            task_yield();
        gc_finish_sweep(); /* X's span swept: a lost X is free now */
        t3c_put_back(x);
        x = 0;
        scrub_below();
        if (valid) {
            t3c.cycle = n + 1;
            __atomic_store_n(&t3c.done, 1, __ATOMIC_RELEASE);
            return;
        }
    }
}

static void t3c_collector(void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < T2C_TRIES && !__atomic_load_n(&t3c.done, __ATOMIC_ACQUIRE); i++)
        gc_collect();
    __atomic_store_n(&t3c.stop, 1, __ATOMIC_RELEASE);
}

static uint32_t t3c_run(int barrier, struct gc_cycle_record *r)
{
    __builtin_memset(&t3c, 0, sizeof t3c);
    t2c_build();
    gc_debug_disable_wb = !barrier;
    struct task *m = task_spawn("t3c-mutator", t3c_mutator, 0, TASK_STACK_CONTIGUOUS);
    struct task *c = task_spawn("t3c-collector", t3c_collector, 0, TASK_STACK_CONTIGUOUS);
    sched_run();
    gc_debug_disable_wb = 0;
    task_reap(m);
    task_reap(c);
    __builtin_memset(r, 0, sizeof *r);
    if (t3c.done)
        gc_cycle_record(t3c.cycle, r);
    return t3c.done;
}

KTEST(gc_concurrent_stack_scanned_once_keeps_moved_pointer, KTEST_QUICK)
{
    if (one_cpu())
        return;
    struct cc_saved sv;
    cc_begin(&sv, 100);
    struct gc_cycle_record r;
    uint32_t done = t3c_run(1, &r);
    uint32_t reports = cc_reports, list = t2c_list_ok();
    cc_end(&sv);
    KCHECKF(done, "no valid round in %u cycles (%u tried)", T2C_TRIES, t3c.rounds);
    KCHECKF(reports == 0 && cc_other == 0, "barrier on: %u checkmark reports", reports);
    KCHECKF(t3c.x_check == ccheck(T2C_LEN), "the node kept on a scanned stack was lost");
    KCHECKF(list == T2C_LEN, "%u of %u list nodes intact", list, T2C_LEN);
    KCHECKF(r.concurrent && r.stacks_conc > 0,
            "cycle %u: %lu of %lu stack bytes scanned while the world ran", t3c.cycle,
            r.stacks_conc, r.stacks);
    kprintf("# valid round after %u try(s); cycle %u scanned %lu of %lu stack bytes with the "
            "world running, %u task(s) left for the second pause\n", t3c.rounds, t3c.cycle,
            r.stacks_conc, r.stacks, r.stacks_left);
    t2c_head = 0;
    gc_collect();
}

/* Negative control: the barrier off, X kept only by the scanned stack is
 * reported — the second pause no longer rescans that stack.  Valid rounds
 * repeat (NEG_ROUNDS, as T2c's control: a conservative word can keep X). */
KTEST(gc_concurrent_stack_scan_catches_missing_barrier, KTEST_QUICK)
{
    if (one_cpu())
        return;
    struct cc_saved sv;
    cc_begin(&sv, 100);
    struct gc_cycle_record r;
    uint32_t done = 1, rounds = 0, tries = 0;
    while (done && rounds < NEG_ROUNDS && !(cc_reports && cc_from_stack)) {
        done = t3c_run(0, &r);
        rounds += done;
        tries += t3c.rounds;
        t2c_head = 0;
        gc_collect();
    }
    uint32_t reports = cc_reports, from_stack = cc_from_stack;
    cc_end(&sv);
    KCHECKF(done, "no valid round in %u cycles (%u tried)", T2C_TRIES, t3c.rounds);
    KCHECKF(reports >= 1 && from_stack >= 1 && cc_other == 0,
            "barrier off: %u checkmark reports (%u from a task stack word), %u other, in %u "
            "valid round(s)", reports, from_stack, cc_other, rounds);
    kprintf("# barrier off: %u report(s), %u from a task stack word, in %u valid round(s), %u "
            "try(s)\n", reports, from_stack, rounds, tries);
}

/* ------------------------------------------------------------ T3d */

/* A stack scanned once, and dead frames (CONCURRENT STACK SCAN in
 * mgc.c; kernel stackgrow_scrub_dead).  The scan reads a task's stack from
 * where it stopped up; the words below are dead — but a frame pushed there
 * after the scan may leave some slots unwritten, and the second pause's
 * checkmark (which reads the stack as it is then) would find there a
 * pointer the scan never saw: to an object the program dropped before the
 * cycle, white and rightly unmarked.  (A stale word is never used: the
 * program only reads slots it wrote.)  So the scan zeroes what lies below.
 *
 * The mutator allocates X while no cycle runs, writes X's address into
 * every slot of a deep frame (t3d_plant), forgets X and asks for a cycle.
 * Once its stack was scanned in that mark, it enters a frame of the same
 * size at the same depth whose slots it never writes (t3d_wait_in_frame),
 * and stays there until the cycle ends: checkmark reads those slots.  With
 * the scrub they hold zeros and nothing is reported; the negative control
 * (stackgrow_debug_no_scrub) leaves X's address there and gccheckmark
 * reports X, reached from a task stack word.  Contiguous and segmented
 * stacks both. */
#define T3D_WORDS 40
#define T3D_ROUNDS 2
static struct {
    volatile int stop;
    volatile uint32_t planted; /* cycle number wanted next (collector waits) */
    uint32_t tries, valid, stale;
} t3d;

static __attribute__((noinline)) void t3d_plant(uintptr_t hidden)
{
    volatile uint64_t pad[T3D_WORDS];
    for (int i = 0; i < T3D_WORDS; i++)
        pad[i] = hidden ^ HIDE;
    (void)pad[0];
}

/* Its pad is never written: it holds what earlier frames left at this
 * depth (or the scrub's zeros).  Returns how many slots still hold X. */
static __attribute__((noinline)) uint32_t t3d_wait_in_frame(uint32_t n, uintptr_t hidden,
                                                            bool *valid)
{
    volatile uint64_t pad[T3D_WORDS];
    __asm__ volatile("" : : "r"(pad) : "memory");
    *valid = in_concurrent_mark() && gc_num_cycles() == n && my_stack_scanned(n);
    while (gc_num_cycles() == n)
        task_yield();
    uint32_t stale = 0;
    for (int i = 0; i < T3D_WORDS; i++)
        stale += pad[i] == (hidden ^ HIDE);
    return stale;
}

/* X allocated, its address planted below, X forgotten (not black: no
 * cycle runs until the collector sees `planted`). */
static __attribute__((noinline)) uintptr_t t3d_new_hidden(void)
{
    struct cnode *x = newobject(&cnode_type);
    return (uintptr_t)x ^ HIDE;
}

static void t3d_mutator(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&t3d.stop, __ATOMIC_ACQUIRE) && t3d.valid < T3D_ROUNDS) {
        uint32_t n = gc_num_cycles();
        if (__atomic_load_n(&gc_phase, __ATOMIC_ACQUIRE) != GC_OFF) {
            task_yield();
            continue;
        }
        uintptr_t hidden = t3d_new_hidden();
        t3d_plant(hidden);
        SCRUB_REGS();
        __atomic_store_n(&t3d.planted, n + 1, __ATOMIC_RELEASE);
        while (gc_num_cycles() == n && !(in_concurrent_mark() && my_stack_scanned(n)))
            task_yield();
        bool valid;
        uint32_t stale = t3d_wait_in_frame(n, hidden, &valid);
        t3d.tries++;
        t3d.valid += valid;
        t3d.stale += valid ? stale : 0;
    }
    __atomic_store_n(&t3d.stop, 1, __ATOMIC_RELEASE);
}

static void t3d_collector(void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < T2C_TRIES && !__atomic_load_n(&t3d.stop, __ATOMIC_ACQUIRE); i++) {
        uint32_t want = gc_num_cycles() + 1;
        while (__atomic_load_n(&t3d.planted, __ATOMIC_ACQUIRE) != want &&
               !__atomic_load_n(&t3d.stop, __ATOMIC_ACQUIRE))
            task_yield();
        gc_collect();
    }
    __atomic_store_n(&t3d.stop, 1, __ATOMIC_RELEASE);
}

/* Rounds in one stack mode; the reports from a task stack word. */
static uint32_t t3d_run(int scrub, enum task_mode mode)
{
    __builtin_memset(&t3d, 0, sizeof t3d);
    t2c_build(); /* 40000 nodes: the mark outlasts the mutator's scan */
    uint32_t from_stack = cc_from_stack;
    stackgrow_debug_no_scrub = !scrub;
    struct task *m = task_spawn("t3d-mutator", t3d_mutator, 0, mode);
    struct task *c = task_spawn("t3d-collector", t3d_collector, 0, TASK_STACK_CONTIGUOUS);
    sched_run();
    stackgrow_debug_no_scrub = 0;
    task_reap(m);
    task_reap(c);
    t2c_head = 0;
    return cc_from_stack - from_stack;
}

KTEST(gc_concurrent_dead_frame_words_not_roots, KTEST_QUICK)
{
    if (one_cpu())
        return;
    static const enum task_mode modes[2] = {TASK_STACK_CONTIGUOUS, TASK_STACK_SEGMENTED};
    static const char *const names[2] = {"contiguous", "segmented"};
    for (int i = 0; i < 2; i++) {
        struct cc_saved sv;
        cc_begin(&sv, 100);
        t3d_run(1, modes[i]);
        uint32_t reports = cc_reports;
        cc_end(&sv);
        KCHECKF(t3d.valid >= T3D_ROUNDS, "%s: %u valid rounds of %u", names[i], t3d.valid,
                t3d.tries);
        KCHECKF(reports == 0 && cc_other == 0 && t3d.stale == 0,
                "%s, scrubbed: %u checkmark reports, %u slots still held X", names[i], reports,
                t3d.stale);
        kprintf("# %s: %u valid round(s) of %u, dead slots zeroed, no report\n", names[i],
                t3d.valid, t3d.tries);
    }
    gc_collect();
}

/* Negative control: without the scrub the unwritten slots still hold X at
 * the second pause, and gccheckmark reports it. */
KTEST(gc_concurrent_dead_frame_words_control, KTEST_QUICK)
{
    if (one_cpu())
        return;
    struct cc_saved sv;
    cc_begin(&sv, 100);
    uint32_t from_stack = t3d_run(0, TASK_STACK_CONTIGUOUS);
    uint32_t reports = cc_reports;
    cc_end(&sv);
    KCHECKF(t3d.valid >= T3D_ROUNDS, "%u valid rounds of %u", t3d.valid, t3d.tries);
    KCHECKF(t3d.stale > 0 && from_stack >= 1 && cc_other == 0,
            "no scrub: %u slots held X, %u checkmark reports (%u from a task stack word)",
            t3d.stale, reports, from_stack);
    kprintf("# no scrub: %u slot(s) held X, %u report(s), %u from a task stack word\n",
            t3d.stale, reports, from_stack);
    gc_collect();
}

/* ------------------------------------------------------------ T7 quick */

#define T7_MAX_TASKS 16
#define T7_TOTAL_OPS 24000 /* shared by the tasks: as many cycles on 8 CPUs as on 2 */
#define T7_CAP 300

#define T7_BALLAST 60000 /* nodes: ~2 MiB the marker walks one by one (~20 ms under TCG) */
/* Roots (bss), in one struct so that their order is fixed: the ballast's
 * head is scanned after the list heads, so its grey entry is drained first
 * (LIFO) and the marker walks the whole ballast chain before it reaches
 * the lists — the tasks change them while they are still white, where a
 * missing barrier loses nodes, and the mark lasts long enough for the other
 * CPUs to run (a vCPU needs time to come out of the first pause). */
static struct {
    struct cnode *lists[T7_MAX_TASKS];
    struct cnode *ballast;
} t7_roots;
#define t7_lists t7_roots.lists
static struct {
    uint32_t tasks;
    uint64_t sum[T7_MAX_TASKS], count[T7_MAX_TASKS]; /* what each list must hold */
    uint32_t cycles0;
    uint32_t oom;         /* mallocgc failures (none expected) */
    uint32_t ops_in_mark; /* operations that ended while a cycle marked concurrently */
} t7;

static uint64_t t7_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The node before position k (0: the list head's slot). */
static struct cnode **t7_slot(struct cnode **head, uint64_t k)
{
    struct cnode **p = head;
    while (k-- && *p)
        p = &(*p)->next;
    return p;
}

/* One list operation of task i, chosen by r (its own frame: the list
 * pointers it held die with it, see t7_task). */
static __attribute__((noinline)) void t7_op(uint32_t i, uint64_t r, uint64_t *id)
{
    struct cnode **head = &t7_lists[i];
    uint64_t n = t7.count[i];
    struct cnode **at = t7_slot(head, n ? r % (n + 1) : 0);
    if (n < T7_CAP && (r >> 32) % 3 != 0) { /* insert at a random place */
        struct cnode *c = newobject(&cnode_type);
        c->id = ++*id;
        c->check = ccheck(c->id);
        GC_WB(c->next, *at);
        GC_WB(*at, c); /* *at: a node's next field, or the global head */
        t7.sum[i] += c->id;
        t7.count[i]++;
    } else if (*at && (r >> 32) % 3 == 1) { /* move that node to the head */
        struct cnode *c = *at;
        GC_WB(*at, c->next);
        GC_WB(c->next, *head);
        GC_WB(*head, c);
    } else if (*at) { /* delete */
        struct cnode *c = *at;
        t7.sum[i] -= c->id;
        t7.count[i]--;
        GC_WB(*at, c->next);
    }
}

/* Between operations the task's stack and registers are scrubbed before it
 * reaches a safepoint (the garbage allocation, the yield): a stale list
 * pointer there would have the first pause grey the rest of that list at
 * once, and the lists would be black before the tasks touch them. */
static void t7_task(void *arg)
{
    uint32_t i = (uint32_t)(uintptr_t)arg;
    uint64_t seed = 0x1234567ull * (i + 1), id = (uint64_t)(i + 1) << 40;
    for (uint32_t op = 0; op < T7_TOTAL_OPS / t7.tasks; op++) {
        t7_op(i, t7_rand(&seed), &id);
        scrub_below();
        /* garbage: what makes the cycles come back to back */
        if (!mallocgc(256, 0, false))
            t7.oom++;
        if (in_concurrent_mark())
            __atomic_add_fetch(&t7.ops_in_mark, 1, __ATOMIC_RELAXED);
        if (op % 64 == 0)
            task_yield();
    }
}

struct t7_result {
    uint32_t cycles, concurrent, reports, bad;
};

static void t7_build_ballast(void)
{
    struct cnode *head = 0;
    for (uint32_t i = 0; i < T7_BALLAST; i++) {
        struct cnode *c = newobject(&cnode_type);
        c->id = i;
        c->check = ccheck(i);
        c->next = head; /* a task of its own, before any concurrent cycle */
        head = c;
    }
    t7_roots.ballast = head;
}

static void t7_run(int barrier, struct t7_result *out)
{
    struct cc_saved sv;
    cc_begin(&sv, 5);
    if (!t7_roots.ballast) {
        int32_t gogc = gc_set_percent(-1); /* no cycle while building */
        t7_build_ballast();
        gc_set_percent(gogc);
    }
    __builtin_memset(&t7, 0, sizeof t7);
    t7.tasks = smp_ncpu() * 2 > T7_MAX_TASKS ? T7_MAX_TASKS : smp_ncpu() * 2;
    t7.cycles0 = gc_num_cycles();
    static struct task *ts[T7_MAX_TASKS];
    for (uint32_t i = 0; i < t7.tasks; i++)
        ts[i] = task_spawn("t7-lists", t7_task, (void *)(uintptr_t)i,
                           i % 2 ? TASK_STACK_SEGMENTED : TASK_STACK_CONTIGUOUS);
    gc_debug_disable_wb = !barrier;
    sched_run();
    gc_debug_disable_wb = 0;
    for (uint32_t i = 0; i < t7.tasks; i++)
        task_reap(ts[i]);
    __builtin_memset(ts, 0, sizeof ts);
    out->cycles = gc_num_cycles() - t7.cycles0;
    out->concurrent = 0;
    for (uint32_t k = t7.cycles0 + 1; k <= gc_num_cycles(); k++) {
        struct gc_cycle_record r;
        out->concurrent += gc_cycle_record(k, &r) && r.concurrent;
    }
    gc_collect();
    out->reports = cc_reports;
    cc_end(&sv);
    out->bad = 0;
    for (uint32_t i = 0; i < t7.tasks; i++) {
        uint64_t sum = 0, count = 0;
        for (const struct cnode *c = t7_lists[i]; c && count <= T7_CAP; c = c->next, count++) {
            sum += c->id;
            out->bad += c->check != ccheck(c->id) || gc_object_state(c) != GC_OBJ_LIVE;
        }
        out->bad += sum != t7.sum[i] || count != t7.count[i];
    }
    __builtin_memset(t7_lists, 0, sizeof t7_lists);
    gc_collect();
}

/* The ballast goes with the test that made it. */
static void t7_drop_ballast(void)
{
    t7_roots.ballast = 0;
    gc_collect();
}

/* Rounds of t7_run until `enough` says so (at most T7_ROUNDS): the
 * machine's load decides how much of the churn overlaps a concurrent mark
 * (a vCPU the host does not run marks nothing and mutates nothing). */
#define T7_ROUNDS 10
struct t7_total {
    struct t7_result sum;
    uint32_t ops_in_mark, rounds;
};

static void t7_rounds(int barrier, bool (*enough)(const struct t7_total *), struct t7_total *t)
{
    __builtin_memset(t, 0, sizeof *t);
    while (t->rounds < T7_ROUNDS && !enough(t)) {
        struct t7_result r;
        t7_run(barrier, &r);
        t->sum.cycles += r.cycles;
        t->sum.concurrent += r.concurrent;
        t->sum.reports += r.reports;
        t->sum.bad += r.bad + t7.oom;
        t->ops_in_mark += t7.ops_in_mark;
        t->rounds++;
    }
}

/* five concurrent cycles, and (two CPUs or more) 500 operations inside them */
static bool t7_enough_overlap(const struct t7_total *t)
{
    return t->sum.concurrent >= 5 && (smp_ncpu() < 2 || t->ops_in_mark >= 500);
}

KTEST(gc_concurrent_stress_lists, KTEST_QUICK)
{
    struct t7_total t;
    t7_rounds(1, t7_enough_overlap, &t);
    t7_drop_ballast();
    KCHECKF(t.sum.bad == 0, "%u list nodes, lists or allocations wrong", t.sum.bad);
    KCHECKF(t.sum.reports == 0 && cc_other == 0, "%u checkmark reports, %u other", t.sum.reports,
            cc_other);
    KCHECKF(t.sum.concurrent >= 5, "only %u concurrent cycles (of %u) ran during the churn",
            t.sum.concurrent, t.sum.cycles);
    KCHECKF(smp_ncpu() < 2 || t.ops_in_mark > 0,
            "no list operation overlapped a concurrent mark in %u rounds", t.rounds);
    kprintf("# %u tasks, %u round(s), %u cycles (%u concurrent), %u operations during a "
            "concurrent mark, %u checkmark reports\n",
            t7.tasks, t.rounds, t.sum.cycles, t.sum.concurrent, t.ops_in_mark, t.sum.reports);
    testutil_verify_or_fail("the concurrent stress");
}

static bool t7_enough_loss(const struct t7_total *t)
{
    return t->sum.reports > 0 || t->ops_in_mark >= 20000;
}

/* Negative control: the same churn with the barrier off loses nodes that
 * gccheckmark must report (and mark, so the lists stay whole) — rounds
 * until it does, or 20000 operations overlapped a concurrent mark without
 * one report (then the check is blind: fail). */
KTEST(gc_concurrent_stress_catches_missing_barrier, KTEST_QUICK)
{
    if (one_cpu())
        return;
    struct t7_total t;
    t7_rounds(0, t7_enough_loss, &t);
    t7_drop_ballast();
    KCHECKF(t.sum.reports > 0 && cc_other == 0,
            "barrier off: %u checkmark reports in %u round(s), %u cycles (%u operations during a "
            "concurrent mark)", t.sum.reports, t.rounds, t.sum.concurrent, t.ops_in_mark);
    KCHECKF(t.sum.bad == 0, "barrier off: %u list nodes or lists wrong after gccheckmark's repair",
            t.sum.bad);
    kprintf("# barrier off: %u checkmark reports in %u round(s), %u concurrent cycles, %u "
            "operations during a concurrent mark\n",
            t.sum.reports, t.rounds, t.sum.concurrent, t.ops_in_mark);
    testutil_verify_or_fail("the concurrent stress without barrier");
}

/* ------------------------------------------------------------ T7 slow */

/* T7 on 4 CPUs and more (KTEST_SLOW: the smp4-3G and smp8-2G boots): two
 * tasks per CPU each keep a binary search tree of keys 0..1023 — insert a
 * key that is missing, delete one that is there (a node with two children
 * is replaced by its successor, unlinked first), all through GC_WB, with
 * 256-byte garbage at GOGC=5 and gccheckmark on every cycle.  At the end
 * every tree is walked: in order, every node live and its check word
 * right, the key sum and count as the task kept them.  At least ten
 * concurrent cycles must have run with 500 operations inside them, in up
 * to T7S_ROUNDS rounds of the churn. */
struct snode {
    struct snode *l, *r;
    uint64_t key, check;
};
static const uint8_t snode_mask[1] = {0x3};
static const gotype snode_type = {sizeof(struct snode), 16, snode_mask, "snode"};
#define T7S_OPS 48000 /* shared by the tasks */
static struct snode *t7s_trees[T7_MAX_TASKS]; /* roots (bss) */
static struct {
    uint32_t tasks, oom, ops_in_mark;
    uint64_t sum[T7_MAX_TASKS], count[T7_MAX_TASKS];
} t7s;

/* Take the smallest node out of the subtree at *slot (not empty). */
static struct snode *t7s_unlink_min(struct snode **slot)
{
    while ((*slot)->l)
        slot = &(*slot)->l;
    struct snode *m = *slot;
    GC_WB(*slot, m->r);
    return m;
}

static __attribute__((noinline)) void t7s_op(uint32_t i, uint64_t key)
{
    struct snode **slot = &t7s_trees[i];
    while (*slot && (*slot)->key != key)
        slot = key < (*slot)->key ? &(*slot)->l : &(*slot)->r;
    struct snode *n = *slot;
    if (!n) { /* insert */
        struct snode *c = newobject(&snode_type);
        c->key = key;
        c->check = ccheck(key);
        GC_WB(*slot, c);
        t7s.sum[i] += key;
        t7s.count[i]++;
        return;
    }
    t7s.sum[i] -= key; /* delete */
    t7s.count[i]--;
    if (!n->l || !n->r) {
        GC_WB(*slot, n->l ? n->l : n->r);
        return;
    }
    struct snode *m = t7s_unlink_min(&n->r);
    GC_WB(m->l, n->l);
    GC_WB(m->r, n->r);
    GC_WB(*slot, m);
}

static void t7s_task(void *arg)
{
    uint32_t i = (uint32_t)(uintptr_t)arg % T7_MAX_TASKS; /* arg: the round too */
    uint64_t seed = 0x9876543ull * ((uintptr_t)arg + 1);
    for (uint32_t op = 0; op < T7S_OPS / t7s.tasks; op++) {
        t7s_op(i, t7_rand(&seed) % 1024);
        scrub_below();
        if (!mallocgc(256, 0, false))
            t7s.oom++;
        if (in_concurrent_mark())
            __atomic_add_fetch(&t7s.ops_in_mark, 1, __ATOMIC_RELAXED);
        if (op % 64 == 0)
            task_yield();
    }
}

/* In-order walk: count, key sum, nodes out of order or damaged. */
static void t7s_walk(const struct snode *t, uint64_t lo, uint64_t hi, uint64_t *n, uint64_t *sum,
                     uint32_t *bad)
{
    if (!t)
        return;
    *bad += t->key < lo || t->key > hi || t->check != ccheck(t->key) ||
            gc_object_state(t) != GC_OBJ_LIVE;
    *n += 1;
    *sum += t->key;
    if (t->key > 0)
        t7s_walk(t->l, lo, t->key - 1, n, sum, bad);
    t7s_walk(t->r, t->key + 1, hi, n, sum, bad);
}

#define T7S_ROUNDS 4

/* One round: the tasks' share of T7S_OPS on their trees. */
static void t7s_round(uint32_t round, uint32_t *cycles, uint32_t *conc)
{
    uint32_t c0 = gc_num_cycles();
    static struct task *ts[T7_MAX_TASKS];
    for (uint32_t i = 0; i < t7s.tasks; i++)
        ts[i] = task_spawn("t7-trees", t7s_task, (void *)(uintptr_t)(i + round * T7_MAX_TASKS),
                           i % 2 ? TASK_STACK_SEGMENTED : TASK_STACK_CONTIGUOUS);
    sched_run();
    for (uint32_t i = 0; i < t7s.tasks; i++)
        task_reap(ts[i]);
    __builtin_memset(ts, 0, sizeof ts);
    *cycles += gc_num_cycles() - c0;
    for (uint32_t k = c0 + 1; k <= gc_num_cycles(); k++) {
        struct gc_cycle_record r;
        *conc += gc_cycle_record(k, &r) && r.concurrent;
    }
}

KTEST(gc_concurrent_stress_trees, KTEST_SLOW)
{
    if (smp_ncpu() < 4) {
        kprintf("# the slow T7 runs on 4 CPUs and more (smp4-3G, smp8-2G)\n");
        return;
    }
    struct cc_saved sv;
    cc_begin(&sv, 5);
    __builtin_memset(&t7s, 0, sizeof t7s);
    t7s.tasks = smp_ncpu() * 2 > T7_MAX_TASKS ? T7_MAX_TASKS : smp_ncpu() * 2;
    uint32_t cycles = 0, conc = 0, rounds = 0;
    /* rounds until enough operations overlapped a concurrent mark: how many
     * do depends on the host's load (403 in one round beside another QEMU
     * on 4 vCPUs, 10495 alone) */
    while (rounds < T7S_ROUNDS && (conc < 10 || t7s.ops_in_mark < 500))
        t7s_round(rounds++, &cycles, &conc);
    gc_collect();
    uint32_t reports = cc_reports, bad = 0, wrong = 0;
    cc_end(&sv);
    uint64_t nodes = 0;
    for (uint32_t i = 0; i < t7s.tasks; i++) {
        uint64_t n = 0, sum = 0;
        t7s_walk(t7s_trees[i], 0, 1023, &n, &sum, &bad);
        wrong += n != t7s.count[i] || sum != t7s.sum[i];
        nodes += n;
    }
    __builtin_memset(t7s_trees, 0, sizeof t7s_trees);
    KCHECKF(bad == 0 && wrong == 0 && t7s.oom == 0,
            "%u nodes damaged or out of order, %u trees with the wrong count or sum, %u failed "
            "allocations", bad, wrong, t7s.oom);
    KCHECKF(reports == 0 && cc_other == 0, "%u checkmark reports, %u other", reports, cc_other);
    KCHECKF(conc >= 10 && t7s.ops_in_mark >= 500,
            "%u concurrent cycles of %u, %u operations inside them in %u rounds", conc, cycles,
            t7s.ops_in_mark, rounds);
    kprintf("# %u tasks, %u round(s), %u trees with %lu nodes, %u cycles (%u concurrent), %u "
            "operations during a concurrent mark, %u checkmark reports\n", t7s.tasks, rounds,
            t7s.tasks, nodes, cycles, conc, t7s.ops_in_mark, reports);
    gc_collect();
    testutil_verify_or_fail("the slow concurrent stress");
}

/* ------------------------------------------------------------ idle CPUs */

/* Idle CPUs help a concurrent mark (gc_idle_mark_step): a binary tree of
 * 2^17 - 1 two-pointer nodes (4 MiB: work that can be shared, unlike a
 * list) hangs from a global and this CPU collects while every other CPU is
 * idle — they scan part of it (the record's idle_objects: in a cycle whose
 * drain waits for the helper to join, gc_debug_wait_helper, as a loaded
 * host may not run the helper's vCPU during a short mark), nothing is
 * missed (gccheckmark) and the tree is whole.  The control: with
 * gc_debug_no_idle_mark they scan nothing and the mark still completes. */
struct tnode {
    struct tnode *l, *r;
    uint64_t id, check;
};
static const uint8_t tnode_mask[1] = {0x3};
static const gotype tnode_type = {sizeof(struct tnode), 16, tnode_mask, "tnode"};
#define IDLE_DEPTH 16
static struct tnode *idle_tree; /* root (bss) */

/* built with GOGC off: no cycle runs, plain stores are fine */
static struct tnode *idle_build(uint32_t depth, uint64_t *id)
{
    struct tnode *t = newobject(&tnode_type);
    t->id = ++*id;
    t->check = ccheck(t->id);
    if (depth) {
        t->l = idle_build(depth - 1, id);
        t->r = idle_build(depth - 1, id);
    }
    return t;
}

static uint32_t idle_count(const struct tnode *t, uint32_t *bad)
{
    if (!t)
        return 0;
    *bad += t->check != ccheck(t->id) || gc_object_state(t) != GC_OBJ_LIVE;
    return 1 + idle_count(t->l, bad) + idle_count(t->r, bad);
}

static void idle_round(uint32_t off, struct gc_cycle_record *r)
{
    gc_debug_no_idle_mark = off;
    gc_collect();
    gc_debug_no_idle_mark = 0;
    gc_cycle_record(gc_num_cycles(), r);
}

KTEST(gc_idle_cpus_help_concurrent_mark, KTEST_QUICK)
{
    struct cc_saved sv;
    cc_begin(&sv, 100);
    int32_t gogc = gc_set_percent(-1);
    uint64_t id = 0;
    idle_tree = idle_build(IDLE_DEPTH, &id);
    gc_set_percent(gogc);
    /* the helper needs the host to run its vCPU during the ~20 ms of the
     * mark: under load (another QEMU beside this one) it may not, cycle
     * after cycle — so the drain waits until a helper has scanned a batch */
    struct gc_cycle_record free_run, on, off;
    idle_round(0, &free_run);
    gc_debug_wait_helper = 1;
    idle_round(0, &on);
    gc_debug_wait_helper = 0;
    idle_round(1, &off);
    uint32_t bad = 0, n = idle_count(idle_tree, &bad);
    idle_tree = 0;
    uint32_t reports = cc_reports;
    cc_end(&sv);
    uint32_t want = (2u << IDLE_DEPTH) - 1;
    KCHECKF(on.concurrent && off.concurrent, "the cycles were not concurrent");
    KCHECKF(reports == 0 && cc_other == 0, "%u checkmark reports", reports);
    KCHECKF(n == want && bad == 0, "%u of %u nodes, %u bad", n, want, bad);
    KCHECKF(smp_ncpu() < 2 || on.idle_objects > 0, "%u idle CPUs scanned nothing",
            smp_ncpu() - 1);
    KCHECKF(off.idle_objects == 0, "control: idle marking off, yet %lu objects scanned by idle CPUs",
            off.idle_objects);
    kprintf("# %u CPUs: idle CPUs scanned %lu of %u objects (waited for), %lu (not waited "
            "for); mark %lu us with them, %lu us without\n", smp_ncpu(), on.idle_objects, want,
            free_run.idle_objects, free_run.mark_ns / 1000, off.mark_ns / 1000);
    gc_collect();
}
