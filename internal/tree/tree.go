package tree

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Tree is one directory listing, its nodes sorted by name.
type Tree struct {
	Nodes []*Node `json:"nodes"`
}

// ErrFormat reports a tree blob that does not decode to a valid listing.
var ErrFormat = errors.New("malformed tree")

// MaxNodes bounds the entries of one listing a decoder accepts.
const MaxNodes = 1 << 22

// Sort orders the nodes by name.
func (t *Tree) Sort() {
	slices.SortFunc(t.Nodes, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
}

// Find returns the node with the given name, or nil. A nil tree has no nodes.
func (t *Tree) Find(name string) *Node {
	if t == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(t.Nodes, name, func(n *Node, name string) int { return strings.Compare(n.Name, name) })
	if !ok {
		return nil
	}
	return t.Nodes[i]
}

// Encode sorts the tree and returns its canonical binary encoding, from
// which its blob id is computed: equal listings encode to equal bytes and
// deduplicate.
func Encode(t *Tree) ([]byte, error) {
	t.Sort()
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return encode(make([]byte, 0, 64+len(t.Nodes)*96), t), nil
}

// Decode parses and validates a tree blob.
func Decode(data []byte) (*Tree, error) {
	t, err := decode(data)
	if err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// Validate checks that names are safe single components, sorted and unique,
// and that each node's fields fit its type.
func (t *Tree) Validate() error {
	if len(t.Nodes) > MaxNodes {
		return fmt.Errorf("%w: %d entries exceeds %d", ErrFormat, len(t.Nodes), MaxNodes)
	}
	for i, n := range t.Nodes {
		if n == nil {
			return fmt.Errorf("%w: entry %d is null", ErrFormat, i)
		}
		if err := ValidName(n.Name); err != nil {
			return fmt.Errorf("%w: %v", ErrFormat, err)
		}
		if i > 0 && t.Nodes[i-1].Name >= n.Name {
			return fmt.Errorf("%w: %q is out of order or repeated", ErrFormat, n.Name)
		}
		if err := n.validate(); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrFormat, n.Name, err)
		}
	}
	return nil
}

func (n *Node) validate() error {
	switch n.Type {
	case TypeFile, TypeDir, TypeSymlink, TypeBlock, TypeChar, TypeFIFO, TypeSocket:
	default:
		return fmt.Errorf("unknown type %q", n.Type)
	}
	switch {
	case n.Mode&^0o7777 != 0:
		return fmt.Errorf("mode %o has bits outside 07777", n.Mode)
	case n.Type != TypeDir && n.Subtree != nil:
		return fmt.Errorf("a %s has a subtree", n.Type)
	case n.Type == TypeDir && n.Subtree == nil:
		return errors.New("a directory has no subtree")
	case n.Type != TypeFile && len(n.Content) > 0:
		return fmt.Errorf("a %s has content", n.Type)
	case n.Type != TypeSymlink && n.LinkTarget != "":
		return fmt.Errorf("a %s has a link target", n.Type)
	case strings.ContainsRune(n.LinkTarget, 0):
		return errors.New("link target contains NUL")
	}
	for _, x := range n.Xattrs {
		if x.Name == "" || strings.ContainsRune(x.Name, 0) {
			return fmt.Errorf("invalid xattr name %q", x.Name)
		}
	}
	return nil
}
