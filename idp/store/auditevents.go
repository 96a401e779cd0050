package store

// AuditEventNames lists the events the provider records, so that a filter
// on a name that never occurs can be refused instead of matching nothing.
// A test checks that every event the code records is listed here.
func AuditEventNames() []string {
	return []string{
		"account.unlocked",
		"client.created",
		"consent",
		"key.rotated",
		"login.cancelled",
		"login.completed",
		"login.password",
		"phone.changed",
		"phone.enrolled",
		"phone.verified",
		"pin.sent",
		"pin.verify",
		"session.ended",
		"sms.held",
		"sms.hold_lifted",
		"user.created",
		"user.imported",
	}
}
