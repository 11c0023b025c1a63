package licensing

import "testing"

func TestFormulaCell(t *testing.T) {
	tests := []struct {
		name  string
		cell  string
		phone bool
		want  bool
	}{
		{"a strict E.164 phone cell is a number, not a formula", "+12125550100", true, false},
		{"the shortest E.164 a phone cell keeps", "+12", true, false},
		{"the longest E.164 a phone cell keeps", "+123456789012345", true, false},
		{"a '+' number outside a phone cell is guarded", "+12125550100", false, true},
		{"a phone cell with a formula after the digits is guarded", "+1+cmd|' /C calc'!A0", true, true},
		{"a plus, a digit and a command elsewhere is guarded", "+1+cmd|' /C calc'!A0", false, true},
		{"a minus, digits and a command is guarded", "-2+3+cmd|' /C calc'!A0", false, true},
		{"a minus with digits only is guarded too", "-5", false, true},
		{"a minus in a phone cell is guarded", "-2125550100", true, true},
		{"a formatted phone number is guarded", "+1 212 555 0100", true, true},
		{"a phone cell with a leading 0 after '+' is guarded", "+0212555", true, true},
		{"a phone cell of 16 digits is guarded", "+1234567890123456", true, true},
		{"a lone plus is guarded", "+", true, true},
		{"an equals sign is guarded", "=1+1", false, true},
		{"an at sign is guarded", "@SUM(A1)", false, true},
		{"a leading tab is guarded", "\t=1", false, true},
		{"a leading carriage return is guarded", "\r=1", false, true},
		{"a name is left alone", "Ann", false, false},
		{"a national number is left alone", "2125550100", true, false},
		{"an empty cell is left alone", "", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormulaCell(tc.cell, tc.phone); got != tc.want {
				t.Errorf("FormulaCell(%q, phone=%v) = %v, want %v", tc.cell, tc.phone, got, tc.want)
			}
		})
	}
}
