package main

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// testNamespace is the record namespace the interop suite stores values
// under; its rules match test/interop/support/validator.ts.
const testNamespace = "test"

var versionPattern = regexp.MustCompile(`^v(\d{1,9}):`)

// testValidator accepts values of the form v<version>:<text> under keys
// starting with /test/ and selects the highest version, the first of equals.
type testValidator struct{}

// versionOf returns the version of a value, or -1 when it has none.
func versionOf(value []byte) int {
	m := versionPattern.FindSubmatch(value)
	if m == nil {
		return -1
	}
	v, err := strconv.Atoi(string(m[1]))
	if err != nil {
		return -1
	}
	return v
}

func (testValidator) Validate(key string, value []byte) error {
	if !strings.HasPrefix(key, "/"+testNamespace+"/") {
		return errors.New("key outside the test namespace")
	}
	if versionOf(value) < 0 {
		return errors.New("value is not v<version>:<text>")
	}
	return nil
}

func (testValidator) Select(_ string, values [][]byte) (int, error) {
	if len(values) == 0 {
		return 0, errors.New("no values to select from")
	}
	best := 0
	for i := 1; i < len(values); i++ {
		// an invalid value never wins; among valid ones the first of the highest version does
		if versionOf(values[i]) > versionOf(values[best]) {
			best = i
		}
	}
	return best, nil
}
