// Command fgd-go-orders writes, for an openb pod list and a list of seeds, the arrival orders that
// the FGD authors' simulator (hkust-adsl/kubernetes-scheduler-simulator, the ATC '23 artifact) builds
// for its "--shuffle-pod=true -tune 1.3 -tuneseed SEED" runs, in gigafab's --arrival-order format
// (header "seed,index,task", one row per arriving pod, copies named like the pod they copy).
//
// Written from a reading of their procedure (see docs/fgd-reproduction.md, "Results with the
// authors' arrival orders"); none of their code is copied. Per seed, on Go's global math/rand:
//
//  1. rand.Seed(seed), then one rand.Int() (their Simulate logs it in a Debugf whose arguments are
//     evaluated whether or not debug logging is on);
//  2. the pods sorted by name, then rand.Shuffle over them;
//  3. tuning to RATIO x cluster GPU capacity: while the total request is below the target, draw
//     rand.Intn(n) over the name-sorted original pods and append a copy, stopping at the first draw
//     whose per-GPU milli (not its total milli) would take the running total over the target; a list
//     above the target instead loses rand.Intn(len) pods until its total is within it.
//
// Standard library only. Usage:
//
//	fgd-go-orders -pods openb_pod_list_default.csv -nodes openb_node_list_gpu_node.csv \
//	  -seeds 42-51 [-tune 1.3] [-out default.csv]
package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
)

type pod struct {
	name      string
	gpuNumber int64
	milliGpu  int64 // per GPU, as the authors' CSV-to-YAML step writes it
}

func (p pod) totalMilliGpu() int64 { return p.gpuNumber * p.milliGpu }

func readCSV(path string) ([]string, [][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", path, err)
	}
	var rows [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", path, err)
		}
		rows = append(rows, rec)
	}
	return header, rows, nil
}

func column(path string, header []string, name string) (int, error) {
	for i, h := range header {
		if strings.TrimSpace(h) == name {
			return i, nil
		}
	}
	return -1, fmt.Errorf("%s: no column %q", path, name)
}

func number(path string, line int, s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%s:%d: %q is not a number", path, line, s)
	}
	return int64(v), nil
}

func readPods(path string) ([]pod, error) {
	header, rows, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	cName, err := column(path, header, "name")
	if err != nil {
		return nil, err
	}
	cNum, err := column(path, header, "num_gpu")
	if err != nil {
		return nil, err
	}
	cMilli, err := column(path, header, "gpu_milli")
	if err != nil {
		return nil, err
	}
	pods := make([]pod, 0, len(rows))
	seen := map[string]bool{}
	for i, rec := range rows {
		line := i + 2
		p := pod{name: rec[cName]}
		if seen[p.name] {
			return nil, fmt.Errorf("%s:%d: pod name %q repeats", path, line, p.name)
		}
		seen[p.name] = true
		if p.gpuNumber, err = number(path, line, rec[cNum]); err != nil {
			return nil, err
		}
		m, err := number(path, line, rec[cMilli])
		if err != nil {
			return nil, err
		}
		// The authors' pod_csv_to_yaml: gpu-milli only for GPU pods, clamped to 0-1000.
		if p.gpuNumber != 0 {
			switch {
			case m > 1000:
				p.milliGpu = 1000
			case m > 0:
				p.milliGpu = m
			}
		}
		pods = append(pods, p)
	}
	return pods, nil
}

func clusterMilliGpu(path string) (int64, error) {
	header, rows, err := readCSV(path)
	if err != nil {
		return 0, err
	}
	c, err := column(path, header, "gpu")
	if err != nil {
		return 0, err
	}
	var total int64
	for i, rec := range rows {
		g, err := number(path, i+2, rec[c])
		if err != nil {
			return 0, err
		}
		total += g * 1000
	}
	return total, nil
}

// order builds one seed's arrival order: the names of the pods in the order they arrive.
func order(pods []pod, seed int64, ratio float64, nodeMilliGpu int64) []string {
	r := rand.New(rand.NewSource(seed)) // same stream as rand.Seed(seed) on the global source
	_ = r.Int()                         // the Debugf argument

	// The workload copy the tuning draws from: sorted by name.
	sorted := append([]pod(nil), pods...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })

	// The arrival list: sorted by name, then shuffled.
	list := append([]pod(nil), sorted...)
	r.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })

	var total int64
	for _, p := range list {
		total += p.totalMilliGpu()
	}
	target := ratio * float64(nodeMilliGpu)
	if ratio > 0 && float64(total) < target {
		n := len(sorted)
		for n > 0 {
			p := sorted[r.Intn(n)]
			if float64(total+p.milliGpu) > target { // per-GPU milli, as theirs
				break
			}
			total += p.totalMilliGpu()
			list = append(list, p)
		}
	} else if ratio > 0 && float64(total) > target {
		for float64(total) > target && len(list) > 0 {
			i := r.Intn(len(list))
			total -= list[i].totalMilliGpu()
			list = append(list[:i], list[i+1:]...)
		}
	}
	names := make([]string, len(list))
	for i, p := range list {
		names[i] = p.name
	}
	return names
}

func parseSeeds(s string) ([]int64, error) {
	var out []int64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if lo, hi, ok := strings.Cut(part, "-"); ok {
			a, err1 := strconv.ParseInt(lo, 10, 64)
			b, err2 := strconv.ParseInt(hi, 10, 64)
			if err1 != nil || err2 != nil || b < a {
				return nil, fmt.Errorf("bad seed range %q", part)
			}
			for v := a; v <= b; v++ {
				out = append(out, v)
			}
			continue
		}
		v, err := strconv.ParseInt(part, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad seed %q", part)
		}
		out = append(out, v)
	}
	return out, nil
}

func main() {
	podsPath := flag.String("pods", "", "openb pod list CSV (name, num_gpu, gpu_milli, ...)")
	nodesPath := flag.String("nodes", "", "openb GPU node list CSV (gpu column)")
	seedsArg := flag.String("seeds", "42-51", "seeds: list and ranges, e.g. 42-51 or 42,45")
	tune := flag.Float64("tune", 1.3, "tuning ratio: target GPU request as a multiple of cluster GPU capacity")
	outPath := flag.String("out", "", "output file (default: stdout)")
	flag.Parse()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "fgd-go-orders:", err)
		os.Exit(1)
	}
	if *podsPath == "" || *nodesPath == "" {
		fail(errors.New("-pods and -nodes are required"))
	}
	seeds, err := parseSeeds(*seedsArg)
	if err != nil {
		fail(err)
	}
	pods, err := readPods(*podsPath)
	if err != nil {
		fail(err)
	}
	capMilli, err := clusterMilliGpu(*nodesPath)
	if err != nil {
		fail(err)
	}
	var w io.Writer = os.Stdout
	if *outPath != "" {
		f, err := os.Create(*outPath)
		if err != nil {
			fail(err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "seed,index,task")
	for _, seed := range seeds {
		for i, name := range order(pods, seed, *tune, capMilli) {
			if strings.ContainsAny(name, ",\"\r\n") {
				fail(fmt.Errorf("pod name %q would need quoting", name))
			}
			fmt.Fprintf(bw, "%d,%d,%s\n", seed, i, name)
		}
	}
	if err := bw.Flush(); err != nil {
		fail(err)
	}
}
