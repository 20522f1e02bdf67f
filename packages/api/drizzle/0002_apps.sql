CREATE TABLE `app_env` (
	`app_id` text NOT NULL,
	`key` text NOT NULL,
	`value` text NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`app_id`, `key`),
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `app_health` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`app_id` text NOT NULL,
	`docker_id` text NOT NULL,
	`at` integer NOT NULL,
	`kind` text NOT NULL,
	`ok` integer NOT NULL,
	`ms` real,
	`error` text,
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `app_health_app_at_idx` ON `app_health` (`app_id`,`at`);--> statement-breakpoint
CREATE TABLE `apps` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`server_id` text NOT NULL,
	`source` text NOT NULL,
	`port` integer NOT NULL,
	`volumes` text NOT NULL,
	`resources` text NOT NULL,
	`instances` integer NOT NULL,
	`health_check` text,
	`auto_deploy` integer NOT NULL,
	`deadlines` text NOT NULL,
	`build_resources` text NOT NULL,
	`host_port` integer,
	`current_deployment_id` text,
	`deploy_key_public` text,
	`deploy_key_secret` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`server_id`) REFERENCES `servers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `apps_name_unique` ON `apps` (`name`);--> statement-breakpoint
CREATE INDEX `apps_server_idx` ON `apps` (`server_id`);--> statement-breakpoint
CREATE TABLE `deployment_logs` (
	`deployment_id` text NOT NULL,
	`first_seq` integer NOT NULL,
	`last_seq` integer NOT NULL,
	`lines` text NOT NULL,
	PRIMARY KEY(`deployment_id`, `first_seq`),
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `deployments` (
	`id` text PRIMARY KEY NOT NULL,
	`app_id` text NOT NULL,
	`server_id` text NOT NULL,
	`state` text NOT NULL,
	`reason` text,
	`trigger` text NOT NULL,
	`source` text NOT NULL,
	`image` text,
	`commit_sha` text,
	`commit_message` text,
	`rollback_of` text,
	`created_by` text,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `deployments_app_idx` ON `deployments` (`app_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `deployments_server_state_idx` ON `deployments` (`server_id`,`state`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`webhook_id` text NOT NULL,
	`delivery_id` text NOT NULL,
	`event` text NOT NULL,
	`status` text NOT NULL,
	`reason` text,
	`deployment_id` text,
	`received_at` integer NOT NULL,
	FOREIGN KEY (`webhook_id`) REFERENCES `webhooks`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `webhook_deliveries_delivery_idx` ON `webhook_deliveries` (`webhook_id`,`delivery_id`);--> statement-breakpoint
CREATE TABLE `webhooks` (
	`id` text PRIMARY KEY NOT NULL,
	`app_id` text NOT NULL,
	`provider` text NOT NULL,
	`secret` text NOT NULL,
	`branch` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `webhooks_app_idx` ON `webhooks` (`app_id`);--> statement-breakpoint
ALTER TABLE `servers` ADD `build_resources` text DEFAULT '{}' NOT NULL;