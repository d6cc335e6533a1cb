// Package jsonerr describes encoding/json decoding errors in the terms of a
// JSON document (field names, JSON types) rather than of the Go types that
// decode it, for error messages users read.
package jsonerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Describe returns err, from encoding/json, as a user would say it:
// `field "created_at" holds a JSON string, want an integer` where
// encoding/json says `json: cannot unmarshal string into Go struct field
// wireMessage.created_at of type int64`. Other errors lose only their
// "json: " prefix.
func Describe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := "a value"
		if te.Field != "" {
			where = fmt.Sprintf("field %q", te.Field)
		}
		return fmt.Sprintf("%s holds a JSON %s, want %s", where, te.Value, kind(te.Type))
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// kind names the JSON type that decodes into t.
func kind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a JSON value"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return kind(t.Elem())
	}
	return "another type"
}
