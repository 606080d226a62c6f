// alloc.go — Go's allocator as the anchor for the C implementation: ns per
// allocation of 8, 16, 64 and 256-byte objects, pointer-free ([N]byte) and
// with pointers ([N/8]*int), stored into a global sink so escape analysis
// keeps them on the heap.  GC runs normally (GOGC default); the output line
// per cell matches the C workloads:
//   GO-<size>-<noscan|scan> alloc=go threads=1 ops=N seconds=S ops/s=R ns/op=X
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

var sinkB8 *[8]byte
var sinkB16 *[16]byte
var sinkB64 *[64]byte
var sinkB256 *[256]byte
var sinkP8 *[1]*int
var sinkP16 *[2]*int
var sinkP64 *[8]*int
var sinkP256 *[32]*int

func run(name string, n int, f func()) {
	for i := 0; i < 10000; i++ {
		f()
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		f()
	}
	dt := time.Since(t0).Seconds()
	fmt.Printf("%s alloc=go threads=1 ops=%d seconds=%.6f ops/s=%.0f ns/op=%.2f\n",
		name, n, dt, float64(n)/dt, dt*1e9/float64(n))
}

func main() {
	n := 10000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	run("GO-8-noscan", n, func() { sinkB8 = new([8]byte) })
	run("GO-16-noscan", n, func() { sinkB16 = new([16]byte) })
	run("GO-64-noscan", n, func() { sinkB64 = new([64]byte) })
	run("GO-256-noscan", n, func() { sinkB256 = new([256]byte) })
	run("GO-8-scan", n, func() { sinkP8 = new([1]*int) })
	run("GO-16-scan", n, func() { sinkP16 = new([2]*int) })
	run("GO-64-scan", n, func() { sinkP64 = new([8]*int) })
	run("GO-256-scan", n, func() { sinkP256 = new([32]*int) })
}
