package store

// AuditEventNames lists the events the provider records, so that a filter
// on a name that never occurs can be refused instead of matching nothing.
// A test checks that every event the code records is listed here.
func AuditEventNames() []string {
	return []string{
		"account.unlocked",
		"client.created",
		"consent",
		"invitation.created",
		"key.rotated",
		"login.cancelled",
		"login.completed",
		"login.password",
		"passkey.added",
		"passkey.removed",
		"passkey.renamed",
		"passkey.verify",
		"password.reset",
		"password_reset.created",
		"phone.changed",
		"phone.enrolled",
		"phone.verified",
		"pin.sent",
		"pin.verify",
		"password.changed",
		"recovery_code.used",
		"recovery_codes.made",
		"session.ended",
		"sms.held",
		"sms.hold_lifted",
		"totp.added",
		"totp.removed",
		"totp.verify",
		"trusted_device.added",
		"trusted_device.forgotten",
		"trusted_device.used",
		"user.created",
		"user.imported",
	}
}
