import RosterServer

// The lookup server and the store both name a VerifyReport, BackupResult and AuditEntry; this
// file sees only the server's, so the adapter can name each without ambiguity.
typealias LookupVerifyReport = VerifyReport
typealias LookupBackupResult = BackupResult
typealias LookupAuditEntry = AuditEntry
