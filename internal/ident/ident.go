// Package ident checks the names and labels that users give to things
// bunker keeps: vaults, plans, sites and storage targets, principals, tags
// and storage classes. Each rule is written out by hand rather than as a
// regular expression: a counted repetition such as {0,62} compiles to a
// program with one step per count, which every bunker command would build
// at start-up whether it checks a name or not.
package ident

// NameRule says in words what Name accepts, for error messages.
const NameRule = "use 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"

// Name reports whether s is a valid name for a vault, a plan, a site or a
// storage target: 1 to 63 bytes of lower-case ASCII letters, digits, '.',
// '_' and '-', the first a letter or a digit.
func Name(s string) bool {
	return shaped(s, 63, isLowerOrDigit, func(c byte) bool {
		return isLowerOrDigit(c) || c == '.' || c == '_' || c == '-'
	})
}

// Principal reports whether s is a valid principal name: 1 to 64 bytes of
// ASCII letters, digits, '.', '_', '@' and '-', the first a letter or a
// digit.
func Principal(s string) bool {
	return shaped(s, 64, isLetterOrDigit, func(c byte) bool {
		return isLetterOrDigit(c) || c == '.' || c == '_' || c == '@' || c == '-'
	})
}

// StorageClass reports whether s looks like an S3 storage class: 1 to 64
// bytes of upper-case ASCII letters, digits and '_', the first a letter.
func StorageClass(s string) bool {
	return shaped(s, 64, isUpper, func(c byte) bool {
		return isUpper(c) || isDigit(c) || c == '_'
	})
}

// MaxTagRunes is the most characters a tag may hold.
const MaxTagRunes = 128

// Tag reports whether s is a valid tag of a point: 1 to 128 characters,
// none of them an ASCII control character or a comma. A byte that is not
// valid UTF-8 counts as one character.
func Tag(s string) bool {
	n := 0
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == ',' {
			return false
		}
		if n++; n > MaxTagRunes {
			return false
		}
	}
	return n > 0
}

// shaped reports whether s is 1 to limit bytes long, its first byte passes
// first and every later one passes rest.
func shaped(s string, limit int, first, rest func(byte) bool) bool {
	if len(s) == 0 || len(s) > limit || !first(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !rest(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool         { return '0' <= c && c <= '9' }
func isUpper(c byte) bool         { return 'A' <= c && c <= 'Z' }
func isLowerOrDigit(c byte) bool  { return 'a' <= c && c <= 'z' || isDigit(c) }
func isLetterOrDigit(c byte) bool { return isLowerOrDigit(c) || isUpper(c) }
