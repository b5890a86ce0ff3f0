# Released versions of the extension and the upgrade scripts between them
# (README, "Upgrading the extension").
#   extension/versions/taskmgmt--X.sql      the full script of released version X,
#                                           frozen at release (never edited again)
#   extension/versions/taskmgmt--X.control  what X required (requires), so that
#                                           installing X needs what X needed
#   extension/upgrades/taskmgmt--A--B.sql   the upgrade from A to B
# Both are installed, so CREATE EXTENSION taskmgmt VERSION 'X' and
# ALTER EXTENSION taskmgmt UPDATE work from every version kept here.  The
# script built from extension/sql/ is the one of default_version (in
# taskmgmt.control); once that version is frozen the two must stay identical
# (`make check-version`, and the suite deploy-upgrade, fail otherwise).
EXT_FROZEN   := $(filter-out extension/versions/taskmgmt--$(EXTVERSION).sql,\
                  $(wildcard extension/versions/taskmgmt--*.sql))
EXT_UPGRADES := $(wildcard extension/upgrades/taskmgmt--*--*.sql)
EXT_CONTROLS := $(wildcard extension/versions/taskmgmt--*.control)
DATA += $(EXT_FROZEN) $(EXT_UPGRADES) $(EXT_CONTROLS)

.PHONY: release-freeze new-version check-version
# make release-freeze                 freeze the current version (at release time)
# make new-version VERSION=0.2.0      start the next one: bump the control file, add the upgrade script
# make check-version                  the built script still equals the frozen one of its version
release-freeze: taskmgmt--$(EXTVERSION).sql
	@deploy/release.sh freeze
new-version:
	@deploy/release.sh new-version "$(VERSION)"
check-version: taskmgmt--$(EXTVERSION).sql
	@deploy/release.sh check
