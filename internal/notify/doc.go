// Package notify delivers bunker's notifications: approval-workflow events,
// restore-access grants opening and closing, and changes of scan verdicts.
//
// An Event is delivered to Targets: Email sends it over SMTP (STARTTLS or
// implicit TLS, AUTH PLAIN only over TLS); Webhook posts it as JSON that
// Slack and Microsoft Teams incoming webhooks accept, signed with
// HMAC-SHA256 so that any other receiver can check it with VerifyWebhook.
//
// A Dispatcher takes events from the server without blocking it: each
// target has a bounded queue and its own worker, which retries failed
// deliveries with exponential backoff and jitter and reports every outcome
// to a callback. ParseTarget reads targets as the command line gives them.
package notify
