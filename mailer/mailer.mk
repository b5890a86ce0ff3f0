# taskmgmt-mailer: drains the outbox, mail over SMTP and webhooks over HTTP (included by the top Makefile).
#   make mailer/taskmgmt-mailer   (part of `make all`)
MAILER_SRCS   := $(addprefix mailer/,main.c config.c message.c smtp.c outbox.c log.c webhook.c)
MAILER_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror \
                 -I$(shell $(PG_CONFIG) --includedir 2>/dev/null || echo /usr/include/postgresql)
MAILER_LIBS   := -lpq -lcurl -lm

all: mailer/taskmgmt-mailer

mailer/taskmgmt-mailer: $(MAILER_SRCS) mailer/mailer.h
	$(CC) $(MAILER_CFLAGS) -o $@ $(MAILER_SRCS) $(MAILER_LIBS)

.PHONY: mailer-clean
mailer-clean:
	rm -f mailer/taskmgmt-mailer

clean: mailer-clean
