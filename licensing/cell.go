package licensing

// FormulaCell reports whether a spreadsheet opening a CSV file would take
// the cell s for a formula: it starts with '=', '+', '-', '@', a tab or a
// carriage return. The one exception is a phone cell (phone set) holding
// a strict E.164 number, '+' then 2 to 15 digits the first of which is not
// 0: a spreadsheet reads it as a number, runs nothing, and a guard would
// change the text an import must find. Every writer of a CSV file with
// directory values guards or leaves out the cells this reports.
func FormulaCell(s string, phone bool) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '@', '\t', '\r', '-':
		return true
	case '+':
		return !phone || !strictE164(s)
	}
	return false
}

// strictE164 reports whether s is '+' followed by 2 to 15 digits, the first
// not 0, and nothing else.
func strictE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
