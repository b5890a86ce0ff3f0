# Export and reports: PGXS does not track header dependencies; rebuild the
# renderer's objects when their shared header changes.
extension/export_pdf.o extension/report_chart.o: extension/report_pdf.h extension/taskmgmt.h
extension/export_csv.o: extension/taskmgmt.h
