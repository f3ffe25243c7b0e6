// Command evalscore scores a ransomware scanner's findings against the
// labels written by evalgen and prints a Markdown report:
//
//	go run ./eval/cmd/evalscore -labels DIR/labels -results results.json [-strict]
//
// results.json is {"scanner": "...", "points": [{"scenario": "attack-full-aes",
// "verdict": "clean|suspicious|infected", "flagged": ["path/in/tree", ...]}]}.
// With -strict the exit status is 1 when a target is missed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/bunkerhq/bunker/eval/labels"
	"github.com/bunkerhq/bunker/eval/score"
)

func main() {
	labelDir := flag.String("labels", "", "directory of <scenario>.json labels (DIR/labels)")
	results := flag.String("results", "", "scanner results JSON")
	asJSON := flag.Bool("json", false, "print the report as JSON instead of Markdown")
	strict := flag.Bool("strict", false, "exit 1 when a target is missed")
	flag.Parse()
	if *labelDir == "" || *results == "" {
		fmt.Fprintln(os.Stderr, "evalscore: -labels and -results are required")
		os.Exit(2)
	}
	ls, err := labels.ReadDir(*labelDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "evalscore:", err)
		os.Exit(1)
	}
	res, err := score.ReadResults(*results)
	if err != nil {
		fmt.Fprintln(os.Stderr, "evalscore:", err)
		os.Exit(1)
	}
	rep := score.Score(ls, res)
	if *asJSON {
		out := struct {
			*score.Report
			Targets []score.Target `json:"targets"`
		}{rep, rep.Targets()}
		b, err := json.MarshalIndent(out, "", " ")
		if err != nil {
			fmt.Fprintln(os.Stderr, "evalscore:", err)
			os.Exit(1)
		}
		fmt.Println(string(b))
	} else {
		fmt.Print(rep.Markdown())
	}
	if *strict && !rep.OK() {
		os.Exit(1)
	}
}
