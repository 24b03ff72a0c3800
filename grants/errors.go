package grants

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable reason for a refusal. Agents branch on it;
// it never changes meaning once published.
type Code string

// The refusal codes of the agent-facing contract.
const (
	CodeNoGrant            Code = "NO_GRANT"
	CodeOutOfScope         Code = "OUT_OF_SCOPE"
	CodeWriteNotGranted    Code = "WRITE_NOT_GRANTED"
	CodeGrantExpired       Code = "GRANT_EXPIRED"
	CodeGrantRevoked       Code = "GRANT_REVOKED"
	CodeGrantNotYours      Code = "GRANT_NOT_YOURS"
	CodeMultipleStatements Code = "MULTIPLE_STATEMENTS"
	CodeParseError         Code = "PARSE_ERROR"
	CodeForbiddenStatement Code = "FORBIDDEN_STATEMENT"
	CodeForbiddenFunction  Code = "FORBIDDEN_FUNCTION"
	CodePolicyDenied       Code = "POLICY_DENIED"
	CodeApprovalPending    Code = "APPROVAL_PENDING"
	CodeTimeout            Code = "TIMEOUT"
	CodeRowLimit           Code = "ROW_LIMIT"
	CodeResultTooLarge     Code = "RESULT_TOO_LARGE"
	CodeUnavailable        Code = "UNAVAILABLE"
	CodeInvalidArgument    Code = "INVALID_ARGUMENT"
	CodeQueryFailed        Code = "QUERY_FAILED"
)

// Denial is a refusal an agent is meant to see and act on: a stable code and a
// message that says what to do next. Anything that is not a Denial is an
// internal failure and is reported to the agent only generically.
type Denial struct {
	Code    Code
	Message string
}

func (d *Denial) Error() string { return string(d.Code) + ": " + d.Message }

// Deny builds a Denial with a formatted message.
func Deny(code Code, format string, args ...any) *Denial {
	return &Denial{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsDenial reports whether err is (or wraps) a Denial.
func AsDenial(err error) (*Denial, bool) {
	var d *Denial
	ok := errors.As(err, &d)
	return d, ok
}
