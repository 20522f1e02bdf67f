ALTER TABLE `containers` ADD `host_access` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `servers` ADD `agent_container` text;--> statement-breakpoint
ALTER TABLE `servers` ADD `agent_state_volume` text;--> statement-breakpoint
ALTER TABLE `users` ADD `session_epoch` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `audit_log_at_idx` ON `audit_log` (`at`);