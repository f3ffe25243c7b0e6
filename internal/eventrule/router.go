package eventrule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/store"
)

// Router finds the deliveries an event is due. It is immutable and safe
// for use by several goroutines at once.
type Router struct {
	rules []Rule
}

// Due is one delivery an event is due: to target Index of rule Rule.
type Due struct {
	// ID is the delivery's stable id, derived from the event's id, the
	// rule's name and the target's index.
	ID     string
	Rule   string
	Index  int
	Target Target
}

// NewRouter returns a router over rules, which must be valid and have
// distinct names. Disabled rules route nothing.
func NewRouter(rules []Rule) (*Router, error) {
	seen := map[string]bool{}
	r := &Router{}
	for i := range rules {
		if err := rules[i].Validate(); err != nil {
			return nil, fmt.Errorf("rule %s: %w", rules[i].Name, err)
		}
		if seen[rules[i].Name] {
			return nil, fmt.Errorf("rule %s: given twice", rules[i].Name)
		}
		seen[rules[i].Name] = true
		if rules[i].Enabled {
			r.rules = append(r.rules, rules[i])
		}
	}
	return r, nil
}

// Route returns the deliveries e is due, rule by rule in the order the
// router was given them, target by target.
func (r *Router) Route(e *event.Envelope) []Due {
	doc, err := document(e)
	if err != nil {
		return nil
	}
	var out []Due
	for _, rule := range r.rules {
		if !rule.Pattern.root.match(doc) {
			continue
		}
		for i, t := range rule.Targets {
			out = append(out, Due{ID: DeliveryID(e.ID, rule.Name, i), Rule: rule.Name, Index: i, Target: t})
		}
	}
	return out
}

// Matching returns the names of the enabled rules e matches.
func (r *Router) Matching(e *event.Envelope) []string {
	doc, err := document(e)
	if err != nil {
		return nil
	}
	var names []string
	for _, rule := range r.rules {
		if rule.Pattern.root.match(doc) {
			names = append(names, rule.Name)
		}
	}
	return names
}

// DeliveryID is the id of the delivery of an event to target index of a
// rule: 32 hex digits of a hash of the three, the same however often the
// delivery is attempted or replayed.
func DeliveryID(eventID, rule string, index int) string {
	h := sha256.New()
	for _, s := range []string{eventID, rule, strconv.Itoa(index)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// LoadRules reads the stored rules. A stored rule that no longer parses
// (stored by another version of bunker, say) is skipped, and its error
// returned among errs; the others still route.
func LoadRules(ctx context.Context, tx store.Tx) (rules []Rule, errs []error, err error) {
	stored, err := tx.EventRules(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range stored {
		r, err := ParseRule(s.Spec)
		if err == nil && r.Name != s.Name {
			err = fmt.Errorf("stored as %s but named %s", s.Name, r.Name)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("event rule %s: %w", s.Name, err))
			continue
		}
		rules = append(rules, *r)
	}
	return rules, errs, nil
}

// logRuleErrors logs the rules LoadRules skipped.
func logRuleErrors(log *slog.Logger, errs []error) {
	for _, err := range errs {
		log.Warn("event rule skipped", "err", err)
	}
}
