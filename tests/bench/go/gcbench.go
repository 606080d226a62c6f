// gcbench.go — Go's collector as the anchor for the kernel's `gcbench`
// (kernel/gcbench.c): the same workload shapes, run on the host with
// GODEBUG=gctrace=1,gcpacertrace=1 by tests/bench/gcbench.py, which compares
// ratios (cycles per GiB allocated, peak heap / goal), not absolute times.
//
// Workloads, in the kernel's order and shapes:
//
//	pause  a live binary tree of 2-pointer nodes (16 B) of 8, 32 and 128
//	       MiB, built with the collector off, then three runtime.GC().
//	stop   nine runtime.GC() with the other Ps idle, nine with a goroutine
//	       per other P spinning through non-inlined calls (the function
//	       prologue's stack check is where Go's preemption request lands,
//	       like the kernel's poisoned split-stack guard).
//	trees  binary-trees (the benchmarks-game shape): a stretch tree of depth
//	       D+1, a long-lived tree of depth D, then for d = 4, 6, ... D,
//	       2^(D-d+4) trees of depth d built, checked and dropped.  Depth 16
//	       at GOGC 50/100/200, 17 and 18 at GOGC 100.
//	churn  a singly linked list of 64-byte nodes holding 4 MiB; each step
//	       appends a node at the tail and drops the head; 1M steps, GOGC
//	       50/100/200.
//
// Output, all on stdout (stderr carries only the runtime's traces: the
// runtime writes a trace line in several write calls, so anything we wrote
// to the same descriptor could land inside one):
//
//	gcbench-go: begin <workload> <params> numgc=N
//	gcbench-go: end <workload> <params> numgc=M
//	gcbench-go: <workload> <params> gomaxprocs=P seconds=... cycles=...
//	    alloc_mib=... cycles_per_gib=... gc_cpu_pct=... pause_total_ms=...
//	    pause_max_us=...                  (binarytrees, listchurn)
//	gcbench-go: <workload> <params> gomaxprocs=P seconds=... cycles=...
//	    heap_mib=... pause_total_ms=... pause_max_us=...   (pause, stop)
//	gcbench-go: done
//
// The cycles of a workload are those numbered N+1..M in the gctrace lines
// ("gc K @..."), which is how the driver attributes the traces: by number,
// not by the order in which two streams happen to interleave.  Every window
// starts with runtime.GC() (a collected heap, as the kernel does), and that
// cycle is not counted.
//
// The numbers printed here come from runtime.ReadMemStats deltas:
// TotalAlloc, NumGC, PauseTotalNs, PauseNs (the last 256 cycles) and
// GCCPUFraction.  GCCPUFraction is cumulative since the process started and
// is updated at each cycle's end (LastGC), so the GC CPU time up to a cycle
// is GCCPUFraction x (LastGC - start) x GOMAXPROCS; the window's share is
// the difference over (elapsed x GOMAXPROCS).  start is taken at package
// initialisation, a little after the runtime's own start: the error is
// GCCPUFraction x that gap, microseconds.  GOMAXPROCS must not change
// during the run (it is set by the environment).
//
// Usage: gcbench [all|pause|stop|trees|churn]   (default all)
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

var start = time.Now()

type bnode struct {
	l, r *bnode
}

type lnode struct {
	next *lnode
	pad  [7]uint64
}

// roots that keep the live structures reachable (globals: the collector
// must trace them, escape analysis cannot keep them on a stack)
var liveTree *bnode
var churnHead *lnode

func bottomUp(depth int) *bnode {
	n := &bnode{}
	if depth > 0 {
		n.l = bottomUp(depth - 1)
		n.r = bottomUp(depth - 1)
	}
	return n
}

func (n *bnode) check() int {
	if n == nil {
		return 0
	}
	return 1 + n.l.check() + n.r.check()
}

// ------------------------------------------------------------ windows

type window struct {
	name   string
	t0     time.Time
	ms     runtime.MemStats
	gcCPU0 float64 // GC CPU seconds up to the window's first cycle's end
}

func gcCPUSeconds(ms *runtime.MemStats) float64 {
	if ms.NumGC == 0 {
		return 0
	}
	procs := float64(runtime.GOMAXPROCS(0))
	return ms.GCCPUFraction * float64(int64(ms.LastGC)-start.UnixNano()) / 1e9 * procs
}

// open sets GOGC (gogc < 0: leave it), collects, and starts counting.
func open(name string, gogc int) *window {
	if gogc >= 0 {
		debug.SetGCPercent(gogc)
	}
	runtime.GC()
	w := &window{name: name}
	runtime.ReadMemStats(&w.ms)
	w.gcCPU0 = gcCPUSeconds(&w.ms)
	fmt.Printf("gcbench-go: begin %s numgc=%d\n", name, w.ms.NumGC)
	w.t0 = time.Now()
	return w
}

// close prints the end marker and the window's line; extra is appended.
// paced: a run of heap-triggered cycles (trees, churn), whose line has the
// allocation figures; the forced cycles of pause and stop have no such line
// beyond their count and pauses (the driver takes their phases from the
// traces).
func (w *window) close(extra string, paced bool) {
	elapsed := time.Since(w.t0).Seconds()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Printf("gcbench-go: end %s numgc=%d\n", w.name, m.NumGC)
	cycles := m.NumGC - w.ms.NumGC
	var pmax uint64
	for k := w.ms.NumGC + 1; k <= m.NumGC && k+256 > m.NumGC; k++ {
		if p := m.PauseNs[(k+255)%256]; p > pmax {
			pmax = p
		}
	}
	procs := runtime.GOMAXPROCS(0)
	line := fmt.Sprintf("gcbench-go: %s gomaxprocs=%d seconds=%.3f cycles=%d", w.name, procs,
		elapsed, cycles)
	if paced {
		alloc := float64(m.TotalAlloc - w.ms.TotalAlloc)
		perGiB := 0.0
		if alloc > 0 {
			perGiB = float64(cycles) / (alloc / (1 << 30))
		}
		cpuPct := 0.0 // no cycle ended: GCCPUFraction did not move
		if cycles > 0 {
			cpuPct = 100 * (gcCPUSeconds(&m) - w.gcCPU0) / (elapsed * float64(procs))
		}
		line += fmt.Sprintf(" alloc_mib=%.1f cycles_per_gib=%.1f gc_cpu_pct=%.1f", alloc/(1<<20),
			perGiB, cpuPct)
	}
	if !paced {
		// after runtime.GC() (which sweeps before it returns): the bytes
		// the last cycle marked, to the byte rather than gctrace's MB
		line += fmt.Sprintf(" heap_mib=%.3f", float64(m.HeapAlloc)/(1<<20))
	}
	fmt.Printf("%s pause_total_ms=%.3f pause_max_us=%.1f%s\n", line,
		float64(m.PauseTotalNs-w.ms.PauseTotalNs)/1e6, float64(pmax)/1e3, extra)
}

// ------------------------------------------------------------ (a) pause

func benchPause() {
	for _, mib := range []int{8, 32, 128} {
		old := debug.SetGCPercent(-1) // no cycle while building
		depth := 0
		for (uint64(2)<<depth)*16 < uint64(mib)<<20 { // 2^(d+1)-1 nodes of 16 B
			depth++
		}
		liveTree = bottomUp(depth)
		w := open(fmt.Sprintf("pause live_mib=%d depth=%d", mib, depth), -1)
		for i := 0; i < 3; i++ {
			runtime.GC()
		}
		w.close("", false)
		liveTree = nil
		debug.SetGCPercent(old)
		runtime.GC()
	}
}

// ------------------------------------------------------------ (b) stop

//go:noinline
func spinStep(x uint64) uint64 {
	return x*6364136223846793005 + 1442695040888963407
}

var spinStop int32
var spinSink uint64

func spin(wg *sync.WaitGroup, started *int32) {
	defer wg.Done()
	x := uint64(1)
	atomic.AddInt32(started, 1)
	for atomic.LoadInt32(&spinStop) == 0 {
		for i := 0; i < 1000; i++ {
			x = spinStep(x)
		}
	}
	atomic.AddUint64(&spinSink, x)
}

func benchStop() {
	const n = 9
	w := open("stop others=idle", -1)
	for i := 0; i < n; i++ {
		runtime.GC()
	}
	w.close("", false)
	procs := runtime.GOMAXPROCS(0)
	if procs < 2 {
		return
	}
	var wg sync.WaitGroup
	var started int32
	atomic.StoreInt32(&spinStop, 0)
	for i := 1; i < procs; i++ {
		wg.Add(1)
		go spin(&wg, &started)
	}
	for atomic.LoadInt32(&started) < int32(procs-1) {
		runtime.Gosched()
	}
	w = open("stop others=busy", -1)
	for i := 0; i < n; i++ {
		runtime.GC()
	}
	w.close("", false)
	atomic.StoreInt32(&spinStop, 1)
	wg.Wait()
}

// ------------------------------------------------------------ (c) trees

func benchTrees(depth, gogc int) {
	w := open(fmt.Sprintf("binarytrees depth=%d gogc=%d", depth, gogc), gogc)
	sum := bottomUp(depth + 1).check() // the stretch tree
	liveTree = bottomUp(depth)
	for d := 4; d <= depth; d += 2 {
		for i := 0; i < 1<<(depth-d+4); i++ {
			sum += bottomUp(d).check()
		}
	}
	sum += liveTree.check()
	liveTree = nil
	w.close(fmt.Sprintf(" nodes=%d", sum), true)
}

// ------------------------------------------------------------ (d) churn

func benchChurn(gogc int) {
	const liveNodes = (4 << 20) / 64
	const steps = 1000000
	w := open(fmt.Sprintf("listchurn live_mib=4 gogc=%d steps=%d", gogc, steps), gogc)
	tail := &lnode{}
	churnHead = tail
	for i := 1; i < liveNodes; i++ {
		tail.next = &lnode{}
		tail = tail.next
	}
	for i := 0; i < steps; i++ {
		tail.next = &lnode{}
		tail = tail.next
		churnHead = churnHead.next
	}
	churnHead = nil
	w.close("", true)
}

func main() {
	which := "all"
	if len(os.Args) > 1 {
		which = os.Args[1]
	}
	known := map[string]bool{"all": true, "pause": true, "stop": true, "trees": true, "churn": true}
	if len(os.Args) > 2 || !known[which] {
		fmt.Fprintln(os.Stderr, "usage: gcbench [all|pause|stop|trees|churn]")
		os.Exit(2)
	}
	all := which == "all"
	old := debug.SetGCPercent(100) // restored at the end (GOGC from the environment)
	debug.SetGCPercent(old)
	if all || which == "pause" {
		benchPause()
	}
	if all || which == "stop" {
		benchStop()
	}
	if all || which == "trees" {
		for _, g := range []int{50, 100, 200} {
			benchTrees(16, g)
		}
		benchTrees(17, 100)
		benchTrees(18, 100)
	}
	if all || which == "churn" {
		for _, g := range []int{50, 100, 200} {
			benchChurn(g)
		}
	}
	debug.SetGCPercent(old)
	fmt.Println("gcbench-go: done")
}
