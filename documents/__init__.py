"""Documents built from a finished run: review workbooks, court filings, the DOJ
update file and impact reports."""
