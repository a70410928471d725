// Package fsname names files after arbitrary strings (topic names, topic
// filters), for the directories of the state that every process shares:
// one encoding for the retained store and the topic directory.
//
// A string s becomes Prefix + s with '/' written as ',' and every byte
// outside [a-z0-9._+#-] written as %XX (upper-case hex): "sport/Tennis/+"
// with Prefix "f_" is "f_sport,%54ennis,+". The encoding
//
//   - is injective, and stays so on a case-insensitive file system: the only
//     letters a name holds literally are lower case, so names that differ
//     only in case come from no two strings (upper-case letters are escapes;
//     the hex digits of escapes are always upper case);
//   - never yields '/', NUL, "." or "..", nor a name starting with '.'
//     (renameio's temporary files do), nor bytes outside printable ASCII, so
//     no string names a path outside its directory and no file system
//     normalizes a name (as macOS does to Unicode);
//   - is reversible: Encoding.Parse tells the string back from a name,
//     without opening the file.
//
// A name whose encoding would pass MaxBase bytes is hashed instead: "h_" +
// the longest whole-escape prefix of the encoding within 64 bytes + "." +
// 32 hex digits of the string's SHA-256. Parse still returns that prefix of
// the string, enough for a reader to rule most files out.
//
// A hash can make two strings share a name, so names are slots of a chain:
// slot 0 is the base name, slot n > 0 is base + "=n" ('=' occurs in no
// encoding and no hash). Which string a slot holds is written inside the
// file; the directories keep their chains without holes (see their docs).
// With the slot suffix and renameio's temporary name ("." + name + up to 20
// digits), every name stays below NAME_MAX (255).
package fsname
