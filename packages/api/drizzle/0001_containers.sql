CREATE TABLE `container_stats` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`server_id` text NOT NULL,
	`container_id` text NOT NULL,
	`at` integer NOT NULL,
	`cpu_pct` real NOT NULL,
	`cpu_limit` real NOT NULL,
	`mem_used` integer NOT NULL,
	`mem_limit` integer NOT NULL,
	`net_rx` integer NOT NULL,
	`net_tx` integer NOT NULL,
	`blk_read` integer NOT NULL,
	`blk_write` integer NOT NULL,
	`pids` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `container_stats_container_at_idx` ON `container_stats` (`container_id`,`at`);--> statement-breakpoint
CREATE INDEX `container_stats_at_idx` ON `container_stats` (`at`);--> statement-breakpoint
CREATE TABLE `containers` (
	`id` text PRIMARY KEY NOT NULL,
	`server_id` text NOT NULL,
	`docker_id` text NOT NULL,
	`name` text NOT NULL,
	`image` text NOT NULL,
	`status` text NOT NULL,
	`exit_code` integer,
	`health` text NOT NULL,
	`ports` text NOT NULL,
	`labels` text NOT NULL,
	`tags` text NOT NULL,
	`managed` integer NOT NULL,
	`docker_created_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	`observed_at` integer NOT NULL,
	FOREIGN KEY (`server_id`) REFERENCES `servers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `containers_server_docker_idx` ON `containers` (`server_id`,`docker_id`);--> statement-breakpoint
CREATE INDEX `containers_server_name_idx` ON `containers` (`server_id`,`name`);--> statement-breakpoint
ALTER TABLE `servers` ADD `port_range_start` integer DEFAULT 20000 NOT NULL;--> statement-breakpoint
ALTER TABLE `servers` ADD `port_range_end` integer DEFAULT 29999 NOT NULL;