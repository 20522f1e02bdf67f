ALTER TABLE `servers` ADD `agent_container` text;--> statement-breakpoint
ALTER TABLE `servers` ADD `agent_state_volume` text;