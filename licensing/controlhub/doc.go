// Package controlhub reads and writes the CSV files administrators already
// move in and out of Webex Control Hub, so licensync meets them there.
//
// Parse reads a Control Hub user export (users.csv): columns are found by
// their header, not their position, because Control Hub adds one TRUE/FALSE
// column per licence and subscription ("Webex Calling VAR Professional
// [SUB-1]") and drops or adds others over time. Real files have been
// through spreadsheets and text editors: a UTF-8 byte order mark, quoted
// commas, blank rows, a phone number whose '+' a spreadsheet removed, the same
// user twice. Parse reads all of that, keeps every column it does not know,
// and names the line and the column of anything it cannot read.
//
// WriteBulk turns a plan's changes into a bulk-licence CSV for Control Hub's
// "Manage users by CSV" import. The file holds only the columns the plan
// touches (Control Hub leaves the services of columns that are absent
// alone), a TRUE for every licence the user holds after the change, a FALSE
// only for a licence the plan removes, and nothing for the rest (an empty
// service cell changes nothing in either import mode). It is meant for the
// "Add services only" import unless the plan removes something and removals
// are acknowledged: without that acknowledgement no row that could take a
// licence away is ever written, so importing it in the wrong mode cannot
// cost a user their Calling configuration.
//
// Phone numbers are written as plain E.164 ("+12125550100"), the only form
// Control Hub's import accepts. The spreadsheet tricks that keep a leading
// '+' (a formula such as ="+12125550100", a leading apostrophe or tab)
// change the cell's text and make the import fail, so the file does not use
// them; docs/controlhub.md tells administrators how to open it in a
// spreadsheet without losing the '+'.
package controlhub
