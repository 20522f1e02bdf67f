CREATE TABLE `domains` (
	`id` text PRIMARY KEY NOT NULL,
	`app_id` text NOT NULL,
	`hostname` text NOT NULL,
	`https` text NOT NULL,
	`redirect_http` integer NOT NULL,
	`redirect_to` text,
	`cert_status` text,
	`cert_reason` text,
	`cert_expires_at` integer,
	`cert_issuer` text,
	`cert_checked_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `domains_hostname_unique` ON `domains` (`hostname`);--> statement-breakpoint
CREATE INDEX `domains_app_idx` ON `domains` (`app_id`);--> statement-breakpoint
ALTER TABLE `servers` ADD `base_domain` text;--> statement-breakpoint
ALTER TABLE `servers` ADD `base_domain_https` text DEFAULT 'auto' NOT NULL;--> statement-breakpoint
ALTER TABLE `servers` ADD `acme_directory` text;--> statement-breakpoint
ALTER TABLE `servers` ADD `acme_email` text;--> statement-breakpoint
ALTER TABLE `servers` ADD `proxy` text;--> statement-breakpoint
ALTER TABLE `servers` ADD `ipv4` text;