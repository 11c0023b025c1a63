package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func init() { commands = append(commands, manCmd) }

// manCmd writes the manual pages from the command definitions, so that
// they say what --help says and a package ships them without a second
// source to keep in step.
func manCmd(*globals) *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "man --dir DIR",
		Short: "Write the manual pages (section 1) into a folder",
		Long:  "Write one manual page per command, licensync.1 and licensync-<command>.1, generated from the command definitions.",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if dir == "" {
				return &exitError{exitUsage, fmt.Errorf("man: --dir is required (see '%s --help')", c.CommandPath())}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return &exitError{exitFailed, fmt.Errorf("man: %w", err)}
			}
			root := c.Root()
			root.DisableAutoGenTag = true
			header := &doc.GenManHeader{Title: "LICENSYNC", Section: "1", Source: "licensync " + version, Manual: "licensync manual"}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return &exitError{exitFailed, fmt.Errorf("man: %w", err)}
			}
			fmt.Fprintf(c.OutOrStdout(), "manual pages written to %s\n", dir)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "folder to write the pages into")
	return c
}
