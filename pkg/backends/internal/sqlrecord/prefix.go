package sqlrecord

import (
	"unicode/utf8"
)

// PrefixEnd returns the smallest string greater, in byte order, than every
// string that starts with prefix, so that "key >= prefix AND key < end" is
// an index range holding exactly the keys with that prefix. UTF-8 orders
// code points the same way as their bytes, so replacing the last rune with
// its successor gives that bound and stays valid UTF-8. It reports false
// when there is no bound (an empty prefix, or one made only of U+10FFFF).
func PrefixEnd(prefix string) (string, bool) {
	for prefix != "" {
		r, size := utf8.DecodeLastRuneInString(prefix)
		prefix = prefix[:len(prefix)-size]
		if r == utf8.MaxRune {
			continue // no successor: carry into the rune before
		}
		next := r + 1
		if next >= 0xD800 && next <= 0xDFFF {
			next = 0xE000 // surrogates are not valid in UTF-8
		}
		return prefix + string(next), true
	}
	return "", false
}
