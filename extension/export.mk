# Export and reports: PGXS does not track header dependencies; rebuild the
# renderer's objects when the headers they share change.
extension/pdf_canvas.o extension/report_chart.o extension/report_pdf.o: extension/pdf_canvas.h
extension/report_chart.o extension/report_pdf.o: extension/report_chart.h
extension/report_pdf.o: extension/taskmgmt.h
extension/export_csv.o: extension/taskmgmt.h
