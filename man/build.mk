# man/build.mk - the library's man pages: man/man3/*.3, one page per call of
# include/vmshm.h and include/RtApi.h, with ".so" alias pages for the calls a
# page shares.
#   install-man   installs them into $(DESTDIR)$(MANDIR)/man3 (part
#                 of `make install`);
#   man-test      a step of `make test`: every exported call has a page or an
#                 alias whose NAME lists it and whose SYNOPSIS carries the
#                 header's prototype (sh and awk only, no groff needed).

MAN3_PAGES := $(sort $(wildcard man/man3/*.3))
MAN3_DIR = $(DESTDIR)$(MANDIR)/man3

.PHONY: install-man uninstall-man man-test
install-man:
	install -d $(MAN3_DIR)
	install -m 644 $(MAN3_PAGES) $(MAN3_DIR)/

install: install-man

uninstall-man:
	rm -f $(addprefix $(MAN3_DIR)/,$(notdir $(MAN3_PAGES)))

uninstall: uninstall-man

TEST_STEPS += man-test
man-test:
	sh man/check-pages.sh man/man3 include/vmshm.h include/RtApi.h
