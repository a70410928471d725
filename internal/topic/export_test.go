package topic

// CheckString is checkString for the external tests.
var CheckString = checkString
